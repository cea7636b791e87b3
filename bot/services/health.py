"""Client health: a score out of 100 and a level (healthy / watch / at risk), with the reasons spelled out,
computed from data the app already holds, for a page of clients in two queries (figures per client as
correlated subqueries, then the open jobs):

- days since the last communication (or since the client was created, when there is none),
- follow-ups overdue (open, not snoozed past today),
- the feedback trend: overall satisfaction falling quarter on quarter, or no feedback last quarter,
- open jobs older than the client's average time-to-fill (or CLIENTBOT_HEALTH_DEFAULT_FILL_DAYS),
- a pipeline without movement: candidates in play on open jobs, none moved for N days,
- status on-hold.

Only active and on-hold clients have a health; inactive and archived ones are out of the game.
Computing it live for all 10,000 clients takes seconds, so ordering and filtering a whole list by health
(`/client list sort:health`, `health:at-risk`, `GET /api/clients?health=`) use the nightly snapshot
(`client_health_snapshots`, written by the scheduler's `nightly_health` job), while each row shown is
computed live.
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Date, Integer, Select, and_, bindparam, cast, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.db import among, built_once, dialect_insert, dialect_name, read_rows
from bot.errors import ValidationFailed
from bot.models import (
    OPEN_FOLLOW_UP,
    Client,
    ClientCommunication,
    ClientFeedback,
    ClientHealthSnapshot,
    ClientStatus,
    Job,
    JobStatus,
    Role,
    SubscriptionEvent,
    User,
    utcnow,
)
from bot.roles import require
from bot.services import audit, periods, subscriptions
from bot.services.analytics import fill_seconds
from bot.services.communications import last_contact_of

TRACKED = (ClientStatus.ACTIVE.value, ClientStatus.ON_HOLD.value)
_ON_HOLD = ClientStatus.ON_HOLD.value


class Level(StrEnum):
    HEALTHY = "healthy"
    WATCH = "watch"
    AT_RISK = "at-risk"


LEVEL_WORDS = {
    "healthy": Level.HEALTHY,
    "watch": Level.WATCH,
    "at-risk": Level.AT_RISK,
    "atrisk": Level.AT_RISK,
}


def parse_level(text: str, field_name: str = "health") -> Level:
    level = LEVEL_WORDS.get(text.strip().lower().replace("_", "-").replace(" ", "-"))
    if level is None:
        raise ValidationFailed(
            {field_name: f"“{text}” is not a health level: use healthy, watch or at-risk."}
        )
    return level


@dataclass(frozen=True)
class Thresholds:
    """When each reason counts and the score below which a client is on watch / at risk (see Settings)."""

    contact_watch_days: int = 30
    contact_risk_days: int = 60
    pipeline_stale_days: int = 14
    default_fill_days: int = 45
    feedback_drop: float = 0.5
    watch_below: int = 80
    risk_below: int = 50

    @classmethod
    def of(cls, settings: Settings) -> Thresholds:
        return cls(**{name: getattr(settings, f"health_{name}") for name in cls.__dataclass_fields__})


# What each reason costs out of 100.
PENALTY = {
    "no_contact_watch": 15,
    "no_contact_risk": 35,
    "overdue_follow_up": 10,  # each, at most 3
    "feedback_falling": 20,
    "feedback_missing": 10,
    "stale_job": 10,  # each, at most 2
    "pipeline_stalled": 15,
    "on_hold": 20,
}
# Reasons whose text quotes a private figure ("feedback 4.2 → 3.1"): never posted into shared channels.
PRIVATE_REASONS = frozenset({"feedback_falling"})


@dataclass(frozen=True)
class Reason:
    code: str  # no_contact, overdue_follow_ups, feedback_falling, feedback_missing, stale_jobs, ...
    text: str  # plain text, no user input: "2 overdue follow-ups", "feedback 4.2 → 3.1"
    penalty: int

    @property
    def private(self) -> bool:
        return self.code in PRIVATE_REASONS

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "text": self.text, "penalty": self.penalty}


@dataclass
class Health:
    client_id: uuid.UUID
    score: int
    level: Level
    reasons: list[Reason] = field(default_factory=list)
    days_since_contact: int | None = None  # None: never contacted
    last_contact: datetime | None = None
    hot: bool = False

    @property
    def contact_text(self) -> str:
        if self.days_since_contact is None:
            return "no contact yet"
        if self.days_since_contact == 0:
            return "last contact today"
        return f"last contact {_plural(self.days_since_contact, 'day')} ago"

    def describe(self) -> str:
        """Plain text (the PDF): `hot · last contact 23 days ago · at risk (45/100): 2 overdue follow-ups`."""
        reasons = ", ".join(r.text for r in self.reasons if r.code != "no_contact")
        hot = "hot · " if self.hot else ""
        level = self.level.value.replace("-", " ")
        return f"{hot}{self.contact_text} · {level} ({self.score}/100)" + (f": {reasons}" if reasons else "")

    def as_dict(self) -> dict[str, Any]:
        """The API's `health` object."""
        return {
            "score": self.score,
            "level": self.level.value,
            "hot": self.hot,
            "last_contact": self.last_contact.isoformat() if self.last_contact else None,
            "days_since_contact": self.days_since_contact,
            "reasons": [r.as_dict() for r in self.reasons],
        }


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def figure_columns(dialect: str, client: Any = Client) -> list[Any]:
    """What a client's health is scored on (`assess` reads them), as columns of a query on `client` (the
    `Client` entity or an alias of it): each figure a correlated subquery on the client's indexes. Bound
    values: `figure_values`."""

    def per_client(query: Select[Any]) -> Any:
        return query.correlate(client).scalar_subquery()

    def feedback_in(period: str, figure: Any) -> Any:
        return per_client(
            select(figure).where(
                ClientFeedback.client_id == client.id,
                ClientFeedback.is_finalized.is_(True),
                ClientFeedback.feedback_period == bindparam(period),
            )
        )

    average = func.avg(ClientFeedback.overall_satisfaction)
    today = bindparam("today", type_=Date)
    # how long a job may stay open: the client's average time to fill, or the default without one
    fill_days = select(
        func.coalesce(
            func.avg(fill_seconds(dialect) / 86400), bindparam("default_fill_days", type_=Integer)
        ).label("days")
    ).where(Job.client_id == client.id, Job.filled_at.is_not(None))
    stale = select(func.count()).where(Job.client_id == client.id, Job.status == JobStatus.OPEN.value)
    if dialect == "postgresql":  # the limit is planned once per client (an InitPlan)
        stale = stale.where(_age_days(dialect, today, Job.opened_at) > per_client(fill_days))
    else:  # SQLite ran a subquery in the WHERE once per open job (the 500-job client's page: 18 ms, not 0.9)
        limit = fill_days.correlate(client).subquery("fill_limit")
        stale = (
            stale.select_from(Job)
            .join(limit, true())
            .where(_age_days(dialect, today, Job.opened_at) > limit.c.days)
        )
    return [
        client.id,
        client.status,
        client.is_hot,
        client.created_at,
        per_client(last_contact_of(client.id)).label("last"),
        per_client(
            select(func.count()).where(
                ClientCommunication.client_id == client.id,
                *OPEN_FOLLOW_UP,
                ClientCommunication.follow_up_date < today,
                or_(
                    ClientCommunication.follow_up_snoozed_until.is_(None),
                    ClientCommunication.follow_up_snoozed_until <= today,
                ),
            )
        ).label("overdue"),
        feedback_in("last_quarter", func.count()).label("rated_last"),
        feedback_in("last_quarter", average).label("score_last"),
        feedback_in("before", func.count()).label("rated_before"),
        feedback_in("before", average).label("score_before"),
        per_client(fill_days).label("fill_limit"),
        per_client(stale).label("stale"),
        per_client(
            select(func.max(Job.pipeline_moved_at)).where(
                Job.client_id == client.id, Job.status == JobStatus.OPEN.value
            )
        ).label("moved"),
    ]


def _figures_query(dialect: str, scope: Any) -> Select[Any]:
    """One row per tracked client in `scope` with its `figure_columns`."""
    return select(*figure_columns(dialect)).where(scope, among(Client.status, TRACKED))


@built_once
def _figures_of_ids_query(dialect: str) -> Select[Any]:
    return _figures_query(dialect, Client.id.in_(bindparam("ids", expanding=True)))


def _age_days(dialect: str, today: Any, moment: Any) -> Any:
    """Whole days from `moment`'s date (UTC) to `today`, in SQL for the backend named `dialect`."""
    if dialect == "postgresql":
        return today - cast(moment, Date)
    return func.julianday(today) - func.julianday(func.date(moment))


async def compute(
    session: AsyncSession,
    client_ids: Sequence[uuid.UUID] | Select[Any],
    *,
    today: date,
    thresholds: Thresholds = Thresholds(),
) -> dict[uuid.UUID, Health]:
    """Health of the given clients (ids, or a `select(Client.id)`), active and on-hold ones only, in one
    query whatever their number. Callers check the viewer may see these clients."""
    if not isinstance(client_ids, Select) and not client_ids:
        return {}
    dialect = dialect_name(session)
    if isinstance(client_ids, Select):
        query, ids = _figures_query(dialect, Client.id.in_(client_ids)), {}
    else:
        query, ids = _figures_of_ids_query(dialect), {"ids": list(client_ids)}
    rows = await read_rows(session, query, figure_values(today, thresholds) | ids)
    return assess(rows, today=today, thresholds=thresholds)


def figure_values(today: date, thresholds: Thresholds) -> dict[str, Any]:
    """The values `figure_columns` are bound to."""
    last_quarter = periods.last_completed_quarter(today)
    return {
        "today": today,
        "last_quarter": last_quarter,
        "before": periods.previous(last_quarter),
        "default_fill_days": thresholds.default_fill_days,
    }


_PENALTY_OF = operator.attrgetter("penalty")


def assess(
    rows: Iterable[Any], *, today: date, thresholds: Thresholds = Thresholds()
) -> dict[uuid.UUID, Health]:
    """Health of each tracked client among `rows` (rows carrying `figure_columns`); others are skipped."""
    last_quarter = periods.last_completed_quarter(today)
    before = periods.previous(last_quarter)
    quarter_start = _day_start(periods.start_of(periods.quarter_of(today)))
    result = {}
    for row in rows:
        if row.status not in TRACKED:
            continue
        reasons = []
        since = row.last or row.created_at
        days = max(0, (today - since.date()).days)
        if days >= thresholds.contact_watch_days:
            risk = days >= thresholds.contact_risk_days
            what = f"last contact {days} days ago" if row.last else f"no contact in {days} days"
            reasons.append(
                Reason("no_contact", what, PENALTY["no_contact_risk" if risk else "no_contact_watch"])
            )
        if count := row.overdue:
            reasons.append(
                Reason(
                    "overdue_follow_ups",
                    _plural(count, "overdue follow-up"),
                    PENALTY["overdue_follow_up"] * min(count, 3),
                )
            )
        scores = {
            period: float(score) if score is not None else 0.0
            for period, rated, score in (
                (last_quarter, row.rated_last, row.score_last),
                (before, row.rated_before, row.score_before),
            )
            if rated
        }
        if last_quarter in scores and before in scores:
            if scores[before] - scores[last_quarter] >= thresholds.feedback_drop:
                reasons.append(
                    Reason(
                        "feedback_falling",
                        f"feedback {scores[before]:.1f} → {scores[last_quarter]:.1f}",
                        PENALTY["feedback_falling"],
                    )
                )
        elif last_quarter not in scores and row.created_at < quarter_start:
            reasons.append(
                Reason("feedback_missing", f"no feedback for {last_quarter}", PENALTY["feedback_missing"])
            )
        if row.stale:
            reasons.append(
                Reason(
                    "stale_jobs",
                    f"{_plural(row.stale, 'open job')} older than {float(row.fill_limit):.0f} days to fill",
                    PENALTY["stale_job"] * min(row.stale, 2),
                )
            )
        moved = row.moved
        if moved is not None and (today - moved.date()).days >= thresholds.pipeline_stale_days:
            reasons.append(
                Reason(
                    "pipeline_stalled",
                    f"pipeline unmoved for {(today - moved.date()).days} days",
                    PENALTY["pipeline_stalled"],
                )
            )
        if row.status == _ON_HOLD:
            reasons.append(Reason("on_hold", "on hold", PENALTY["on_hold"]))
        score = max(0, 100 - sum([r.penalty for r in reasons])) if reasons else 100
        level = (
            Level.AT_RISK
            if score < thresholds.risk_below
            else Level.WATCH
            if score < thresholds.watch_below
            else Level.HEALTHY
        )
        reasons.sort(key=_PENALTY_OF, reverse=True)  # stable: equal penalties keep their order
        result[row.id] = Health(
            row.id, score, level, reasons, days if row.last else None, row.last, row.is_hot
        )
    return result


async def of_client(
    session: AsyncSession, client: Client, *, today: date, thresholds: Thresholds = Thresholds()
) -> Health | None:
    """One client's health (None for inactive and archived clients). The caller checked visibility."""
    return (await compute(session, [client.id], today=today, thresholds=thresholds)).get(client.id)


# -- the hot flag -------------------------------------------------------------------------------------
async def set_hot(session: AsyncSession, *, actor: User, client: Client, hot: bool) -> bool:
    """Flag or unflag a client as hot (managers and above), audited. Returns whether anything changed."""
    require(actor, Role.MANAGER, "flag clients as hot")
    if client.is_hot == hot:
        return False
    client.is_hot = hot
    audit.record(
        session,
        actor=actor,
        action="client.hot_changed",
        entity=client,
        before={"is_hot": not hot},
        after={"is_hot": hot},
    )
    # The latest snapshot keeps the flag too: `sort:health` puts hot clients first among equals.
    await session.execute(
        update(ClientHealthSnapshot)
        .where(
            ClientHealthSnapshot.client_id == client.id, ClientHealthSnapshot.day == await latest_day(session)
        )
        .values(is_hot=hot)
    )
    await session.flush()
    return True


# -- snapshots -----------------------------------------------------------------------------------------
async def snapshot_all(
    session: AsyncSession, day: date, *, thresholds: Thresholds = Thresholds(), batch: int = 2000
) -> int:
    """Write every active and on-hold client's health for `day` (again for the same day: updated), and, in
    the same transaction, publish a health change to the channels subscribed to it for each client whose
    level differs from its latest snapshot so far (that of an earlier day, or of `day` itself on a
    re-run: so a re-run publishes only what changed since, and a client's first snapshot nothing)."""
    client_ids = list(
        await session.scalars(select(Client.id).where(among(Client.status, TRACKED)).order_by(Client.id))
    )
    followed = await subscriptions.followers(session, SubscriptionEvent.HEALTH)
    previous = await _levels_so_far(session, [i for i in client_ids if i in followed], day)
    table = ClientHealthSnapshot.__table__
    written = 0
    for start in range(0, len(client_ids), batch):
        healths = await compute(session, client_ids[start : start + batch], today=day, thresholds=thresholds)
        await _publish_changes(
            session,
            [
                (h, previous[h.client_id])
                for h in healths.values()
                if previous.get(h.client_id, h.level.value) != h.level.value
            ],
        )
        rows = [
            {
                "id": uuid.uuid4(),
                "client_id": h.client_id,
                "day": day,
                "score": h.score,
                "level": h.level.value,
                "is_hot": h.hot,
                "reasons": [r.as_dict() for r in h.reasons],
                "created_at": utcnow(),
            }
            for h in healths.values()
        ]
        if not rows:
            continue
        statement = dialect_insert(session, table).values(rows)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["client_id", "day"],
                set_={
                    c: statement.excluded[c] for c in ("score", "level", "is_hot", "reasons", "created_at")
                },
            )
        )
        written += len(rows)
    return written


async def _levels_so_far(
    session: AsyncSession, client_ids: Sequence[uuid.UUID], day: date, *, chunk: int = 1000
) -> dict[uuid.UUID, str]:
    """Each client's level in its latest snapshot on or before `day` (none yet: left out); one index probe
    per client (`client_id, day` is unique)."""
    latest = (
        select(ClientHealthSnapshot.level)
        .where(ClientHealthSnapshot.client_id == Client.id, ClientHealthSnapshot.day <= day)
        .order_by(ClientHealthSnapshot.day.desc())
        .limit(1)
        .correlate(Client)
        .scalar_subquery()
    )
    levels: dict[uuid.UUID, str] = {}
    for start in range(0, len(client_ids), chunk):
        rows = await session.execute(
            select(Client.id, latest).where(Client.id.in_(client_ids[start : start + chunk]))
        )
        levels.update({client_id: level for client_id, level in rows if level is not None})
    return levels


async def _publish_changes(session: AsyncSession, changed: Sequence[tuple[Health, str]]) -> None:
    """Owe the subscribed channels a post for each health change. `reasons` (all of them) and `score` are
    private figures (see subscriptions.PRIVATE_KEYS); `public_reasons` may be shown in shared channels."""
    if not changed:
        return
    by_id = {h.client_id: (h, before) for h, before in changed}
    items = []
    for client in await session.scalars(select(Client).where(Client.id.in_(list(by_id)))):
        h, before = by_id[client.id]
        details = {
            "before": before,
            "after": h.level.value,
            "score": h.score,
            "reasons": [r.text for r in h.reasons],
            "public_reasons": [r.text for r in h.reasons if not r.private],
        }
        items.append((client, details))
    await subscriptions.publish_many(session, SubscriptionEvent.HEALTH, items)


# The client is at a level in the latest nightly snapshot (bound: `at_level_values`).
AT_LEVEL = (
    select(ClientHealthSnapshot.id)
    .where(
        ClientHealthSnapshot.client_id == Client.id,
        ClientHealthSnapshot.day == bindparam("health_day"),
        ClientHealthSnapshot.level == bindparam("health_level"),
    )
    .correlate(Client)
    .exists()
)


async def at_level_values(session: AsyncSession, level: Level) -> dict[str, Any]:
    """What `AT_LEVEL` is bound to for `level`."""
    return {"health_day": await latest_day(session), "health_level": level.value}


async def latest_day(session: AsyncSession, *, on_or_before: date | None = None) -> date | None:
    query = select(func.max(ClientHealthSnapshot.day))
    if on_or_before is not None:
        query = query.where(ClientHealthSnapshot.day <= on_or_before)
    return await session.scalar(query)


async def ordered_page(
    session: AsyncSession,
    conditions: Sequence[Any],
    values: dict[str, Any],
    *,
    descending: bool,
    page: int,
    per_page: int,
) -> tuple[list[uuid.UUID], int, int]:
    """(client ids of the page, their total, the page number) among the clients matching `conditions`,
    ordered by health as of the latest nightly snapshot: the worst first (lowest score; hot ones first
    among equals, then in a fixed order), or the exact reverse when `descending`; clients without a
    snapshot (new since the last night, inactive, archived) after them by code. One index scan
    (`idx_client_health_snapshots_order`): a page costs the same at 10 or 10,000 clients."""
    day = await latest_day(session)
    snapped = (
        select(Client.id)
        .join(
            ClientHealthSnapshot,
            and_(ClientHealthSnapshot.client_id == Client.id, ClientHealthSnapshot.day == day),
        )
        .where(*conditions)
    )
    total = await session.scalar(select(func.count()).select_from(Client).where(*conditions), values) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    offset = (page - 1) * per_page
    order = [ClientHealthSnapshot.score, ClientHealthSnapshot.is_hot.desc(), ClientHealthSnapshot.client_id]
    if descending:  # the exact reverse, read backwards from the same index
        order = [
            ClientHealthSnapshot.score.desc(),
            ClientHealthSnapshot.is_hot,
            ClientHealthSnapshot.client_id.desc(),
        ]
    ids = list(await session.scalars(snapped.order_by(*order).offset(offset).limit(per_page), values))
    if len(ids) < per_page:
        # Past the snapshotted clients: the others, by code.
        in_snapshot = await session.scalar(select(func.count()).select_from(snapped.subquery()), values) or 0
        missing = (
            ~select(ClientHealthSnapshot.id)
            .where(ClientHealthSnapshot.client_id == Client.id, ClientHealthSnapshot.day == day)
            .correlate(Client)
            .exists()
        )
        ids += list(
            await session.scalars(
                select(Client.id)
                .where(*conditions, missing)
                .order_by(Client.client_code)
                .offset(max(0, offset - in_snapshot))
                .limit(per_page - len(ids)),
                values,
            )
        )
    return ids, total, page


@dataclass
class RiskReport:
    """For the weekly digest: clients at risk in the latest snapshot, and those of them that were not at
    risk in the snapshot of a week before."""

    day: date | None
    at_risk: list[tuple[str, str, list[str]]] = field(default_factory=list)  # code, name, reason texts
    newly: list[str] = field(default_factory=list)  # codes
    total: int = 0


async def risk_report(session: AsyncSession, *, today: date, limit: int = 15) -> RiskReport:
    day = await latest_day(session, on_or_before=today)
    report = RiskReport(day=day)
    if day is None:
        return report
    at_risk = select(ClientHealthSnapshot.client_id).where(
        ClientHealthSnapshot.day == day, ClientHealthSnapshot.level == Level.AT_RISK.value
    )
    report.total = await session.scalar(select(func.count()).select_from(at_risk.subquery())) or 0
    rows = await session.execute(
        select(Client.client_code, Client.name, ClientHealthSnapshot.reasons)
        .join(ClientHealthSnapshot, ClientHealthSnapshot.client_id == Client.id)
        .where(ClientHealthSnapshot.day == day, ClientHealthSnapshot.level == Level.AT_RISK.value)
        .order_by(ClientHealthSnapshot.score, Client.client_code)
        .limit(limit)
    )
    report.at_risk = [
        (code, name, [r.get("text", "") for r in reasons or []]) for code, name, reasons in rows
    ]
    # A week before (or the last snapshot before that, had a night been missed; none: all are new).
    week_ago = await latest_day(session, on_or_before=day - timedelta(days=7))
    before = select(ClientHealthSnapshot.client_id).where(
        ClientHealthSnapshot.day == week_ago,
        ClientHealthSnapshot.level == Level.AT_RISK.value,
    )
    report.newly = list(
        await session.scalars(
            select(Client.client_code)
            .join(ClientHealthSnapshot, ClientHealthSnapshot.client_id == Client.id)
            .where(
                ClientHealthSnapshot.day == day,
                ClientHealthSnapshot.level == Level.AT_RISK.value,
                Client.id.notin_(before),
            )
            .order_by(Client.client_code)
            .limit(30)
        )
    )
    return report


def levels_of(healths: Iterable[Health]) -> dict[str, int]:
    counts = {level.value: 0 for level in Level}
    for health in healths:
        counts[health.level.value] += 1
    return counts
