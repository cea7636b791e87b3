"""The client dashboard: live figures from a handful of aggregate queries, a recent-activity timeline,
and the nightly per-client snapshot into client_analytics."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    bindparam,
    cast,
    extract,
    func,
    literal,
    null,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import among, built_once, dialect_insert, dialect_name, read_rows, record_type
from bot.models import (
    OPEN_FOLLOW_UP,
    Application,
    Candidate,
    Client,
    ClientAnalytics,
    ClientCommunication,
    ClientFeedback,
    ClientStatus,
    Job,
    Role,
    Stage,
    User,
)
from bot.roles import has_role
from bot.services import analytics, clients, communications, health
from bot.services.analytics import ACTIVE_JOB_STATUSES, JobAnalytics, fill_seconds
from bot.services.communications import TYPE_LABELS
from bot.services.periods import last_completed_quarter

TIMELINE_SIZE = 15
MOVED_STAGES = (Stage.SHORTLISTED.value, Stage.INTERVIEWED.value, Stage.OFFERED.value, Stage.REJECTED.value)


@dataclass
class TimelineItem:
    at: datetime
    kind: str  # job, candidate, stage, hire, communication, feedback
    text: str
    public: str | None = None  # what a channel may read (no candidate names, subjects, scores); None: nothing
    author: str | None = None  # Slack user id of who logged or submitted it, when a person did


FEEDBACK_IN_TIMELINE = 2  # feedback rows are many (one per manager and quarter): the latest few only


@dataclass
class FigureChange:
    figure: str  # active_jobs, total_candidates, placements, revenue (private)
    then: int | Decimal
    now: int | Decimal

    @property
    def delta(self) -> int | Decimal:
        return self.now - self.then


@dataclass
class Dashboard:
    client: Client | clients.ClientCard  # the entity, or a reader's columns with the same names
    stats: JobAnalytics
    follow_ups: list[communications.CommunicationRecord]
    timeline: list[TimelineItem]
    hires_by_month: list[tuple[str, int]]
    today: date
    baseline: Snapshot | None = None  # the oldest nightly snapshot of the last 90 days
    health: Any = None  # services.health.Health, filled in by the caller (None: inactive/archived)
    last_contact: datetime | None = None  # the latest communication logged with the client

    @property
    def last_activity(self) -> datetime | None:
        return self.timeline[0].at if self.timeline else None

    @property
    def since(self) -> date | None:
        """The day of the oldest nightly snapshot in the 90-day window, the baseline of `changes`."""
        return self.baseline.date if self.baseline else None

    @property
    def changes(self) -> list[FigureChange]:
        """Live headline figures against that snapshot (empty before the first nightly run)."""
        then = self.baseline
        if then is None:
            return []
        return [
            FigureChange("active_jobs", then.active_jobs_count, self.stats.active_jobs),
            FigureChange("total_candidates", then.total_candidates_count, self.stats.total_candidates),
            FigureChange("placements", then.hired_count, self.stats.placements),
            FigureChange("revenue", then.revenue_generated or Decimal(0), self.stats.revenue),
        ]


def _months(today: date, count: int = 12) -> list[str]:
    year, month = today.year, today.month
    labels = []
    for _ in range(count):
        labels.append(f"{year}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return labels[::-1]


def _timeline_texts(kind: str, a: str | None, b: str | None, c: str | None) -> tuple[str, str]:
    """A timeline row's text, and what a channel may read of it (no candidate names, subjects or scores)."""
    if kind == "job":
        return f"Job posted: {a} ({b})", f"Job posted: {a} ({b})"
    if kind == "candidate":
        return f"Candidate submitted: {a} for {b}", f"Candidate submitted for {b}"
    if kind == "stage":
        return f"{a} moved to {c} ({b})", f"A candidate moved to {c} ({b})"
    if kind == "hire":
        return f"Hired: {a} for {b}", f"Hire for {b}"
    if kind == "communication":
        label = TYPE_LABELS.get(c, c)
        return f"{label}: {a or 'no subject'}", f"{label} logged"
    return f"Feedback for {a}: overall {c or '—'}/5", f"Feedback given for {a}"


async def timeline(
    session: AsyncSession, client_id: uuid.UUID, limit: int = TIMELINE_SIZE
) -> list[TimelineItem]:
    """Jobs posted, candidates submitted, stage moves, hires, communications and feedback, newest first: the
    newest `limit` of them all, in one statement (the newest `limit` of each kind, a UNION ALL of six
    ordered, limited selects, ordered and limited once more)."""
    rows = await read_rows(session, _timeline_query(limit), {"client_id": client_id})
    return [
        TimelineItem(at, kind, *_timeline_texts(kind, a, b, c), author=who)
        for at, kind, a, b, c, who, _ in rows
    ]


@built_once
def _timeline_query(limit: int) -> Any:
    client_id = bindparam("client_id")
    none = cast(null(), String)

    def newest(
        at: Any,
        kind: str,
        *columns: Any,
        where: Any = true(),
        author: tuple[Any, Any] | None = None,
        size: int = limit,
    ) -> Any:
        """(at, kind, a, b, c, who) rows: the newest `size` of one kind, wrapped so that each keeps its own
        ORDER BY and LIMIT inside the UNION (SQLite allows them only in a subquery). `author` is (the
        table, its user column): who logged or submitted it, as a Slack user id."""
        who = User.slack_user_id if author else none
        query = select(at.label("at"), literal(kind, String).label("kind"), *columns, who.label("who"))
        if author:
            query = query.select_from(author[0]).outerjoin(User, User.id == author[1])
        inner = query.where(where).order_by(at.desc()).limit(size).subquery()
        return select(inner)

    def newest_moves(at: Any, kind: str, where: Any = true()) -> Any:
        """The newest `limit` applications of the client's jobs by `at`, then their candidates' names: 15
        name lookups, not one per application of a 500-job client."""
        latest = (
            select(
                at.label("at"),
                Application.candidate_id,
                Job.reference.label("b"),
                cast(Application.stage, String).label("c"),
            )
            .join(Job, Job.id == Application.job_id)
            .where(Application.client_id == client_id, where)
            .order_by(at.desc())
            .limit(limit)
            .subquery()
        )
        named = select(
            latest.c.at,
            literal(kind, String).label("kind"),
            Candidate.full_name.label("a"),
            latest.c.b,
            latest.c.c,
            none.label("who"),
        ).join(Candidate, Candidate.id == latest.c.candidate_id)
        return select(named.subquery())

    kinds = (
        newest(
            Job.opened_at,
            "job",
            Job.title.label("a"),
            Job.reference.label("b"),
            none.label("c"),
            where=Job.client_id == client_id,
        ),
        newest_moves(Application.created_at, "candidate"),
        newest_moves(Application.stage_changed_at, "stage", among(Application.stage, MOVED_STAGES)),
        newest_moves(Application.hired_at, "hire", Application.hired_at.is_not(None)),
        newest(
            ClientCommunication.communication_date,
            "communication",
            ClientCommunication.subject.label("a"),
            none.label("b"),
            cast(ClientCommunication.communication_type, String).label("c"),
            where=(ClientCommunication.client_id == client_id) & ClientCommunication.archived_at.is_(None),
            author=(ClientCommunication, ClientCommunication.logged_by),
        ),
        newest(
            ClientFeedback.created_at,
            "feedback",
            cast(ClientFeedback.feedback_period, String).label("a"),
            none.label("b"),
            cast(ClientFeedback.overall_satisfaction, String).label("c"),
            where=ClientFeedback.client_id == client_id,
            author=(ClientFeedback, ClientFeedback.submitted_by),
            size=FEEDBACK_IN_TIMELINE,
        ),
    )
    # Newest first; at the same instant, in the order above (as a posting comes before its first candidate)
    ranked = union_all(
        *(select(*kind.subquery().c, literal(rank, Integer).label("rank")) for rank, kind in enumerate(kinds))
    ).subquery()
    return select(ranked).order_by(ranked.c.at.desc(), ranked.c.rank).limit(limit)


async def hires_by_month(session: AsyncSession, client_id: uuid.UUID, today: date) -> list[tuple[str, int]]:
    labels = _months(today)
    since = datetime(int(labels[0][:4]), int(labels[0][5:]), 1, tzinfo=UTC)
    grouped = await read_rows(session, _hires_query(), {"client_id": client_id, "since": since})
    counts = dict.fromkeys(labels, 0)
    for y, m, n in grouped:
        label = f"{int(y)}-{int(m):02d}"
        if label in counts:
            counts[label] = n
    return list(counts.items())


@built_once
def _hires_query() -> Any:
    year, month = extract("year", Application.hired_at), extract("month", Application.hired_at)
    return (
        select(year, month, func.count())
        .where(Application.client_id == bindparam("client_id"), Application.hired_at >= bindparam("since"))
        .group_by(year, month)
    )


@built_once
def _baseline_query() -> Any:
    """The one snapshot the dashboard compares with: the oldest in the window (not every row of it)."""
    return (
        select(ClientAnalytics)
        .where(
            ClientAnalytics.client_id == bindparam("client_id"), ClientAnalytics.date >= bindparam("since")
        )
        .order_by(ClientAnalytics.date)
        .limit(1)
    )


async def build(
    session: AsyncSession,
    *,
    actor: User,
    today: date,
    client_id: uuid.UUID | None = None,
    client: Client | clients.ClientCard | None = None,
    thresholds: health.Thresholds | None = None,
) -> Dashboard:
    """The dashboard of a client given by id, or already loaded with its details (`clients.find`/`get`),
    which is then not read again; either way only one `actor` may see. With `thresholds`, its live health
    too (the card and the PDF; the channel copy and the chart don't show it), which also gives the last
    contact."""
    if client is None:
        client = await clients.get(session, client_id, viewer=actor, entity=False)
    else:
        clients.require_visible(actor, client)
    values = {"client_id": client.id, "since": today - timedelta(days=90)}
    with_health = thresholds is not None
    if with_health:
        values |= health.figure_values(today, thresholds)
    (figures,) = await read_rows(session, _card_query(dialect_name(session), with_health), values)
    board = Dashboard(
        client=client,
        stats=analytics.analytics_of(figures),
        follow_ups=await communications.follow_ups_due(
            session, client_id=client.id, until=today + timedelta(days=7)
        ),
        timeline=await timeline(session, client.id),
        hires_by_month=await hires_by_month(session, client.id, today),
        today=today,
        baseline=_snapshot_of(figures),
    )
    if with_health:
        board.health = health.assess([figures], today=today, thresholds=thresholds).get(client.id)
    board.last_contact = figures.last_contact
    return board


# The baseline snapshot as the card's statement reads it: ClientAnalytics' columns, prefixed there.
Snapshot = record_type(ClientAnalytics, "Snapshot", __name__)
_SNAPSHOT_PREFIX = "baseline_"


def _snapshot_of(figures: Any) -> Snapshot | None:
    snapshot = Snapshot._make(getattr(figures, _SNAPSHOT_PREFIX + key) for key in Snapshot._fields)
    return None if snapshot.id is None else snapshot


@built_once
def _card_query(dialect: str, with_health: bool) -> Any:
    """The dashboard's single-row figures in one statement: the job analytics (`analytics.figures_query`),
    the baseline snapshot (`_baseline_query`, as `baseline`), the last contact and, `with_health`, the
    health figures (`health.figure_columns`). Bound: `client_id`, `since`, and `health.figure_values`."""
    figures = analytics.figures_query(dialect).subquery("figures")
    baseline = _baseline_query().subquery("baseline")
    snapshot = (baseline.c[key].label(_SNAPSHOT_PREFIX + key) for key in Snapshot._fields)
    last_contact = communications.last_contact_of(bindparam("client_id")).scalar_subquery()
    query = (
        select(*figures.c, *snapshot, last_contact.label("last_contact"))
        .select_from(figures)
        .outerjoin(baseline, true())
    )
    if with_health:
        scored = select(*health.figure_columns(dialect)).where(Client.id == bindparam("client_id")).subquery()
        query = query.add_columns(*scored.c).outerjoin(scored, true())
    return query


async def snapshot_all(session: AsyncSession, day: date) -> int:
    """One client_analytics row per client for `day`, from two grouped queries over all clients.
    Running it again for the same day updates the rows instead of adding new ones."""
    per_job = {
        row.client_id: row
        for row in await session.execute(
            select(
                Job.client_id,
                func.count().filter(among(Job.status, ACTIVE_JOB_STATUSES)).label("active"),
                func.avg(fill_seconds(dialect_name(session))).filter(Job.filled_at.is_not(None)).label("ttf"),
            )
            .where(Job.client_id.is_not(None))
            .group_by(Job.client_id)
        )
    }
    hired = Application.stage == Stage.HIRED.value
    per_app = {
        row.client_id: row
        for row in await session.execute(
            select(
                Job.client_id,
                func.count(func.distinct(Application.candidate_id)).label("candidates"),
                *(func.count().filter(Application.stage == s.value).label(s.value) for s in Stage),
                func.avg(Application.quality_score).label("quality"),
                func.sum(func.coalesce(Application.placement_fee, Job.fee)).filter(hired).label("revenue"),
            )
            .join(Job, Job.id == Application.job_id)
            .where(Job.client_id.is_not(None))
            .group_by(Job.client_id)
        )
    }
    client_ids = list(await session.scalars(select(Client.id)))
    rows = []
    for client_id in client_ids:
        jobs, apps = per_job.get(client_id), per_app.get(client_id)
        ttf = Decimal(str(round(float(jobs.ttf) / 86400, 2))) if jobs and jobs.ttf is not None else None
        quality = Decimal(str(round(float(apps.quality), 2))) if apps and apps.quality is not None else None
        rows.append(
            {
                "id": uuid.uuid4(),
                "client_id": client_id,
                "date": day,
                "active_jobs_count": jobs.active if jobs else 0,
                "total_candidates_count": apps.candidates if apps else 0,
                **{
                    f"{s}_count": getattr(apps, s) if apps else 0
                    for s in ("screened", "shortlisted", "interviewed", "hired")
                },
                "avg_time_to_fill_days": ttf,
                "avg_candidate_quality_score": quality,
                "revenue_generated": Decimal(apps.revenue or 0).quantize(Decimal("0.01"))
                if apps
                else Decimal("0.00"),
            }
        )
    table = ClientAnalytics.__table__
    for start in range(0, len(rows), 1000):
        statement = dialect_insert(session, table).values(rows[start : start + 1000])
        updated = {
            c.name: statement.excluded[c.name]
            for c in table.columns
            if c.name not in ("id", "client_id", "date")
        }
        await session.execute(
            statement.on_conflict_do_update(index_elements=["client_id", "date"], set_=updated)
        )
    return len(rows)


@dataclass(frozen=True)
class ClientRef:
    """A client as a line of Home or a digest names it."""

    id: uuid.UUID
    name: str
    code: str


def _ref(client: Client) -> ClientRef:
    return ClientRef(client.id, client.name, client.client_code)


@dataclass
class PortfolioRow:
    client: Client
    active_jobs: int
    in_pipeline: int
    hires: int
    last_activity: datetime | None


@dataclass
class PortfolioPage:
    rows: list[PortfolioRow]
    total: int
    page: int
    pages: int
    follow_ups: list[tuple[ClientCommunication, ClientRef]]
    feedback_due: list[ClientRef]
    feedback_period: str
    industries: list[str] = field(default_factory=list)
    health: dict[uuid.UUID, Any] = field(default_factory=dict)  # services.health.Health by client id


@dataclass
class PortfolioFilter:
    status: str | None = None
    industry: str | None = None
    created_from: date | None = None
    created_to: date | None = None


async def portfolio(
    session: AsyncSession,
    *,
    manager_id: uuid.UUID,
    today: date,
    filters: PortfolioFilter | None = None,
    page: int = 1,
    per_page: int = 20,
    viewer: User | None = None,
) -> PortfolioPage:
    """An account manager's clients with health figures (grouped queries over the page), their follow-ups
    due this week, and their active clients without feedback for the last completed quarter."""
    chosen = filters or PortfolioFilter()
    if viewer is not None and not clients.can_view_any(viewer):  # a Slack guest: an empty portfolio
        return PortfolioPage([], 0, 1, 1, [], [], last_completed_quarter(today), [])
    listed = await clients.list_clients(
        session,
        filters=clients.ClientFilter(
            account_manager_id=manager_id,
            status=ClientStatus(chosen.status) if chosen.status else None,
            industry=chosen.industry,
            created_from=chosen.created_from,
            created_to=chosen.created_to,
        ),
        page=page,
        per_page=per_page,
        viewer=viewer,
    )
    seen = clients.visible_to(viewer) if viewer is not None else true()
    industries = [
        i
        for i in await session.scalars(
            select(Client.industry)
            .where(Client.account_manager_id == manager_id, Client.industry.is_not(None), seen)
            .distinct()
            .order_by(Client.industry)
            .limit(99)
        )
        if i
    ]
    ids = [c.id for c in listed.clients]
    active = dict(
        (
            await session.execute(
                select(Job.client_id, func.count())
                .where(Job.client_id.in_(ids), among(Job.status, ACTIVE_JOB_STATUSES))
                .group_by(Job.client_id)
            )
        ).all()
    )
    in_pipeline = Application.stage.not_in([Stage.HIRED.value, Stage.REJECTED.value])
    apps = {
        row.client_id: row
        for row in await session.execute(
            select(
                Job.client_id,
                func.count().filter(in_pipeline).label("open"),
                func.count().filter(Application.stage == Stage.HIRED.value).label("hires"),
            )
            .join(Job, Job.id == Application.job_id)
            .where(Job.client_id.in_(ids))
            .group_by(Job.client_id)
        )
    }
    last = dict(
        (
            await session.execute(
                select(ClientCommunication.client_id, func.max(ClientCommunication.communication_date))
                .where(ClientCommunication.client_id.in_(ids))
                .group_by(ClientCommunication.client_id)
            )
        ).all()
    )
    rows = [
        PortfolioRow(
            c,
            active.get(c.id, 0),
            apps[c.id].open if c.id in apps else 0,
            apps[c.id].hires if c.id in apps else 0,
            last.get(c.id),
        )
        for c in listed.clients
    ]
    managed = select(Client.id).where(Client.account_manager_id == manager_id, seen)
    due = await session.execute(
        select(ClientCommunication, Client)
        .join(Client, Client.id == ClientCommunication.client_id)
        .where(
            ClientCommunication.client_id.in_(managed),
            *OPEN_FOLLOW_UP,
            ClientCommunication.follow_up_date <= today + timedelta(days=7),
        )
        .order_by(ClientCommunication.follow_up_date)
        .limit(10)
    )
    period = last_completed_quarter(today)
    with_feedback = select(ClientFeedback.client_id).where(ClientFeedback.feedback_period == period)
    feedback_due = [
        _ref(c)
        for c in await session.scalars(
            select(Client)
            .where(
                Client.account_manager_id == manager_id,
                Client.status == ClientStatus.ACTIVE.value,
                seen,
                Client.id.not_in(with_feedback),
            )
            .order_by(Client.name)
            .limit(30)
        )
    ]
    return PortfolioPage(
        rows,
        listed.total,
        listed.page,
        listed.pages,
        [(r, _ref(c)) for r, c in due],
        feedback_due,
        period,
        industries,
    )


# -- App Home for every role ----------------------------------------------------------------------------
@dataclass
class RecentClient:
    client: ClientRef
    last_contact: datetime


@dataclass
class OwnedJob:
    job: Job
    client: ClientRef | None
    in_pipeline: int


@dataclass
class AgencyOverview:
    """What an HR Admin watches: clients by status, who has no account manager, and how much of the
    last completed quarter's feedback is in."""

    by_status: dict[str, int]
    unassigned: list[ClientRef]
    unassigned_count: int
    feedback_period: str
    feedback_done: int
    feedback_expected: int


@dataclass
class Home:
    follow_ups: list[tuple[ClientCommunication, ClientRef]]
    recent_clients: list[RecentClient]
    jobs: list[OwnedJob]
    portfolio: PortfolioPage | None = None
    overview: AgencyOverview | None = None


async def my_follow_ups(
    session: AsyncSession, viewer: User, *, today: date, limit: int = 10
) -> list[tuple[ClientCommunication, ClientRef]]:
    """Open follow-ups the viewer logged, due within a week (overdue first), not snoozed past today."""
    rows = await session.execute(
        select(ClientCommunication, Client)
        .join(Client, Client.id == ClientCommunication.client_id)
        .where(
            ClientCommunication.logged_by == viewer.id,
            *OPEN_FOLLOW_UP,
            ClientCommunication.follow_up_date <= today + timedelta(days=7),
            or_(
                ClientCommunication.follow_up_snoozed_until.is_(None),
                ClientCommunication.follow_up_snoozed_until <= today,
            ),
            clients.visible_to(viewer),
        )
        .order_by(ClientCommunication.follow_up_date)
        .limit(limit)
    )
    return [(record, _ref(client)) for record, client in rows]


async def recently_logged(session: AsyncSession, viewer: User, *, limit: int = 5) -> list[RecentClient]:
    last = func.max(ClientCommunication.communication_date).label("last")
    rows = await session.execute(
        select(Client, last)
        .join(ClientCommunication, ClientCommunication.client_id == Client.id)
        .where(ClientCommunication.logged_by == viewer.id, clients.visible_to(viewer))
        .group_by(Client.id)
        .order_by(last.desc())
        .limit(limit)
    )
    return [RecentClient(_ref(client), at) for client, at in rows]


async def owned_jobs(session: AsyncSession, viewer: User, *, limit: int = 10) -> list[OwnedJob]:
    in_pipeline = (
        select(func.count())
        .where(
            Application.job_id == Job.id,
            Application.stage.not_in([Stage.HIRED.value, Stage.REJECTED.value]),
        )
        .scalar_subquery()
    )
    rows = await session.execute(
        select(Job, Client, in_pipeline)
        .outerjoin(Client, Client.id == Job.client_id)
        .where(
            Job.owner_id == viewer.id,
            among(Job.status, ACTIVE_JOB_STATUSES),
            or_(Job.client_id.is_(None), clients.visible_to(viewer)),
        )
        .order_by(Job.opened_at.desc())
        .limit(limit)
    )
    return [OwnedJob(job, _ref(client) if client else None, n) for job, client, n in rows]


async def agency_overview(session: AsyncSession, *, today: date, limit: int = 10) -> AgencyOverview:
    by_status = dict.fromkeys(s.value for s in ClientStatus) | dict(
        (await session.execute(select(Client.status, func.count()).group_by(Client.status))).all()
    )
    open_ = Client.status.in_([ClientStatus.ACTIVE.value, ClientStatus.ON_HOLD.value])
    unassigned = select(Client).where(Client.account_manager_id.is_(None), open_)
    count = await session.scalar(select(func.count()).select_from(unassigned.subquery())) or 0
    period = last_completed_quarter(today)
    active = Client.status == ClientStatus.ACTIVE.value
    expected = await session.scalar(select(func.count()).where(active)) or 0
    done = (
        await session.scalar(
            select(func.count(func.distinct(ClientFeedback.client_id)))
            .join(Client, Client.id == ClientFeedback.client_id)
            .where(ClientFeedback.feedback_period == period, active)
        )
        or 0
    )
    return AgencyOverview(
        {k: v or 0 for k, v in by_status.items()},
        [_ref(c) for c in await session.scalars(unassigned.order_by(Client.name).limit(limit))],
        count,
        period,
        done,
        expected,
    )


async def home(
    session: AsyncSession,
    *,
    viewer: User,
    today: date,
    filters: PortfolioFilter | None = None,
    page: int = 1,
) -> Home:
    """Everything the viewer's App Home shows: their own follow-ups, clients they logged lately and jobs
    they own; for HR Managers their portfolio and feedback due; for HR Admins the agency overview.
    A Slack guest sees none of it."""
    if not clients.can_view_any(viewer):
        return Home([], [], [])
    board = Home(
        await my_follow_ups(session, viewer, today=today),
        await recently_logged(session, viewer),
        await owned_jobs(session, viewer),
    )
    if has_role(viewer, Role.MANAGER):
        board.portfolio = await portfolio(
            session, manager_id=viewer.id, today=today, filters=filters, page=page, viewer=viewer
        )
    if has_role(viewer, Role.ADMIN):
        board.overview = await agency_overview(session, today=today)
    return board
