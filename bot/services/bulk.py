"""Bulk operations over many clients: change status, reassign the account manager, link jobs, archive.

The clients are listed (`client_ids`: UUIDs or codes) or chosen by a `filter` (status, industry, account
manager), which resolves through the same query as the client list. Each operation has its own typed
`parameters`. A dry run performs each client's change exactly as the real run would and rolls it back, so
the preview shows what would change (and what would fail) without writing anything. The real run is one
transaction per client, with a result for each."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator, model_validator

from bot.db import Database
from bot.errors import DomainError, ValidationFailed
from bot.models import ClientStatus, Role, User
from bot.roles import require
from bot.services import clients, jobs, users
from bot.services.inputs import FieldProblems, parse_input

Operation = Literal["change_status", "reassign_account_manager", "link_jobs", "archive"]
MAX_CLIENTS = 500
MAX_JOBS = 100
STATUS_HINT = "Use active, inactive, on-hold or archived."
_ADMIN_STATUSES = {ClientStatus.INACTIVE, ClientStatus.ARCHIVED}


class _Strict(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")


def _status(value: Any) -> Any:
    if not isinstance(value, str) or value not in {s.value for s in ClientStatus}:
        raise ValueError(STATUS_HINT)
    return value


def _status_or_none(value: Any) -> Any:
    return None if value is None else _status(value)


class ChangeStatusParameters(_Strict):
    status: ClientStatus = Field(description="active, inactive, on-hold or archived")
    reason: str | None = Field(
        default=None, max_length=2000, description="Required for inactive and archived."
    )

    check_status = field_validator("status", mode="before")(_status)

    @model_validator(mode="after")
    def _reason_to_deactivate(self) -> ChangeStatusParameters:
        if self.status in _ADMIN_STATUSES and not self.reason:
            raise FieldProblems({"parameters.reason": f"Say why the clients are {self.status.value}."})
        return self


class ReassignParameters(_Strict):
    account_manager_id: str | None = Field(
        max_length=100, description="The new account manager's UUID or Slack user id; null for nobody."
    )


JobReference = Annotated[str, Field(min_length=1, max_length=50)]


class LinkJobsParameters(_Strict):
    job_references: list[JobReference] = Field(min_length=1, max_length=MAX_JOBS)
    move: bool = Field(default=False, description="Move jobs that are linked to another client.")


class ArchiveParameters(_Strict):
    reason: str = Field(min_length=1, max_length=2000)


class BulkFilter(_Strict):
    """Clients chosen by what they are rather than by name; at least one criterion."""

    status: ClientStatus | None = None
    industry: str | None = Field(default=None, max_length=100)
    account_manager_id: str | None = Field(default=None, max_length=100, description="UUID or Slack user id")

    check_status = field_validator("status", mode="before")(_status_or_none)

    @model_validator(mode="after")
    def _something(self) -> BulkFilter:
        if self.status is None and not self.industry and not self.account_manager_id:
            raise FieldProblems({"filter": "Filter by status, industry or account manager."})
        return self


ClientReference = Annotated[str, Field(min_length=1, max_length=100)]


class _Bulk(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    client_ids: list[ClientReference] | None = Field(
        default=None, min_length=1, max_length=MAX_CLIENTS, description="UUIDs or client codes"
    )
    filter: BulkFilter | None = Field(default=None, description="Instead of client_ids")
    dry_run: bool = True

    @model_validator(mode="after")
    def _clients_or_filter(self) -> _Bulk:
        if (self.client_ids is None) == (self.filter is None):
            raise FieldProblems({"client_ids": "Give either client_ids or a filter."})
        return self


class ChangeStatusBulk(_Bulk):
    operation: Literal["change_status"]
    parameters: ChangeStatusParameters


class ReassignBulk(_Bulk):
    operation: Literal["reassign_account_manager"]
    parameters: ReassignParameters


class LinkJobsBulk(_Bulk):
    operation: Literal["link_jobs"]
    parameters: LinkJobsParameters


class ArchiveBulk(_Bulk):
    operation: Literal["archive"]
    parameters: ArchiveParameters


BulkIn = ChangeStatusBulk | ReassignBulk | LinkJobsBulk | ArchiveBulk
BY_OPERATION: dict[str, type[_Bulk]] = {
    "change_status": ChangeStatusBulk,
    "reassign_account_manager": ReassignBulk,
    "link_jobs": LinkJobsBulk,
    "archive": ArchiveBulk,
}


class BulkRequest(RootModel[Annotated[BulkIn, Field(discriminator="operation")]]):
    """The request body as documented (OpenAPI): `parameters` depend on `operation`."""


class _AnyBulk(_Bulk):
    """Only to report an unknown operation together with the other fields' problems."""

    operation: Operation
    parameters: dict[str, Any] = Field(default_factory=dict)


def parse_bulk(data: Any) -> BulkIn:
    """Validate a bulk request; problems come back per field (`parameters.status`, `client_ids`, …)."""
    operation = data.get("operation") if isinstance(data, dict) else None
    model = BY_OPERATION.get(operation) if isinstance(operation, str) else None
    if model is None:
        parse_input(_AnyBulk, data)  # raises: the operation is missing or unknown
        raise ValidationFailed({"operation": "Unknown operation."})  # pragma: no cover
    return parse_input(model, data)  # type: ignore[return-value]


@dataclass
class BulkResult:
    client_id: str
    client_code: str | None
    ok: bool
    change: str | None = None
    error: str | None = None
    client_name: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def required_role(data: BulkIn) -> Role:
    """Deactivating and archiving are for HR Admins; the rest for HR Managers."""
    deactivating = isinstance(data, ArchiveBulk) or (
        isinstance(data, ChangeStatusBulk) and data.parameters.status in _ADMIN_STATUSES
    )
    return Role.ADMIN if deactivating else Role.MANAGER


async def resolve_clients(session: Any, data: BulkIn, *, limit: int = MAX_CLIENTS) -> list[str]:
    """The clients a request is about: its `client_ids`, or what its filter matches today (by code)."""
    if data.client_ids is not None:
        if len(set(data.client_ids)) > limit:
            raise ValidationFailed({"client_ids": f"At most {limit} clients at once."})
        return list(dict.fromkeys(data.client_ids))
    assert data.filter is not None
    manager = None
    if data.filter.account_manager_id:
        manager = await users.by_reference(session, data.filter.account_manager_id)
        if manager is None:
            raise ValidationFailed({"filter.account_manager_id": "No such user."})
    page = await clients.list_clients(
        session,
        filters=clients.ClientFilter(
            status=data.filter.status,
            industry=data.filter.industry,
            account_manager_id=manager.id if manager else None,
            sort_by="client_code",
        ),
        per_page=limit,
    )
    if page.total > limit:
        raise ValidationFailed(
            {"filter": f"The filter matches {page.total} clients; narrow it to at most {limit}."}
        )
    if not page.clients:
        raise ValidationFailed({"filter": "No client matches the filter."})
    return [c.client_code for c in page.clients]


async def _apply(session: Any, actor: User, data: BulkIn, client: Any) -> str:
    """Make one client's change in `session`; returns what changed."""
    p = data.parameters
    if isinstance(p, ChangeStatusParameters | ArchiveParameters):
        status = p.status if isinstance(p, ChangeStatusParameters) else ClientStatus.ARCHIVED
        before = client.status
        if before == status.value:  # on-hold → on-hold is no change: nothing is written or audited
            return f"no change: already {before}"
        await clients.change_status(session, actor=actor, client_id=client.id, status=status, reason=p.reason)
        return f"status {before} → {status.value}"
    if isinstance(p, ReassignParameters):
        before = client.account_manager.display_name if client.account_manager else "nobody"
        updated = await clients.reassign(
            session, actor=actor, client_id=client.id, manager_reference=p.account_manager_id
        )
        after = updated.account_manager.display_name if updated.account_manager else "nobody"
        return f"account manager {before} → {after}"
    linked = await jobs.link_jobs(
        session, actor=actor, client_id=client.id, references=p.job_references, move=p.move
    )
    if linked.conflicts or linked.not_found:
        problems = [f"{r} is linked to {c}" for r, c in linked.conflicts] + [
            f"no job {r}" for r in linked.not_found
        ]
        raise ValidationFailed({"job_references": "; ".join(problems)}, "; ".join(problems))
    return f"linked {', '.join(linked.linked) or 'nothing new'}"


async def run(db: Database, *, actor_id: Any, data: BulkIn, limit: int = MAX_CLIENTS) -> list[BulkResult]:
    """Each client in its own transaction; a dry run rolls every one back."""
    async with db.session() as session:
        actor = await users.get(session, actor_id)
        require(actor, required_role(data), "run this bulk operation")
        references = await resolve_clients(session, data, limit=limit)
    results = []
    for reference in references:
        found: tuple[str, str] | None = None
        name: str | None = None
        async with db.sessionmaker() as session:
            try:
                actor = await users.get(session, actor_id)
                client = await clients.find_exact(session, reference)
                found = (str(client.id), client.client_code)  # read now: a rollback expires the row
                name = client.name
                change = await _apply(session, actor, data, client)
                if data.dry_run:
                    await session.rollback()
                else:
                    await session.commit()
                result = BulkResult(*found, True, change=change, client_name=name)
            except DomainError as error:
                await session.rollback()
                client_id, code = found or (reference, None)
                result = BulkResult(client_id, code, False, error=error.detail, client_name=name)
        results.append(result)
    return results
