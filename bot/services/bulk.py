"""Bulk operations over many clients: change status, reassign the account manager, link jobs, archive.

A dry run performs each client's change exactly as the real run would and rolls it back, so the preview
shows what would change (and what would fail) without writing anything. The real run is one transaction
per client, with a result for each."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.db import Database
from bot.errors import DomainError, ValidationFailed
from bot.models import ClientStatus, Role, User
from bot.roles import require
from bot.services import clients, jobs, users
from bot.services.inputs import parse_input

Operation = Literal["change_status", "reassign_account_manager", "link_jobs", "archive"]
MAX_CLIENTS = 500


class BulkIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    client_ids: list[str] = Field(min_length=1, max_length=MAX_CLIENTS)
    operation: Operation
    parameters: dict[str, Any] = Field(default_factory=dict)
    dry_run: bool = True

    @model_validator(mode="after")
    def _parameters(self) -> BulkIn:
        p = self.parameters
        if self.operation == "change_status":
            if p.get("status") not in {s.value for s in ClientStatus}:
                raise ValueError("parameters.status: use active, inactive, on-hold or archived.")
        elif self.operation == "link_jobs":
            refs = p.get("job_references")
            if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
                raise ValueError("parameters.job_references: give a list of job references.")
        elif self.operation == "reassign_account_manager" and "account_manager_id" not in p:
            raise ValueError("parameters.account_manager_id: give the new account manager (or null).")
        return self


def parse_bulk(data: Any) -> BulkIn:
    return parse_input(BulkIn, data)


@dataclass
class BulkResult:
    client_id: str
    client_code: str | None
    ok: bool
    change: str | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def required_role(data: BulkIn) -> Role:
    """Deactivating and archiving are for HR Admins; the rest for HR Managers."""
    deactivating = data.operation == "archive" or (
        data.operation == "change_status" and data.parameters.get("status") in ("inactive", "archived")
    )
    return Role.ADMIN if deactivating else Role.MANAGER


async def _apply(session: Any, actor: User, data: BulkIn, reference: str) -> BulkResult:
    client = await clients.find_exact(session, reference)
    p, result = data.parameters, BulkResult(str(client.id), client.client_code, True)
    if data.operation in ("change_status", "archive"):
        status = ClientStatus(p.get("status", "archived"))
        before = client.status
        await clients.change_status(
            session, actor=actor, client_id=client.id, status=status, reason=p.get("reason")
        )
        result.change = f"status {before} → {status.value}"
    elif data.operation == "reassign_account_manager":
        before = client.account_manager.display_name if client.account_manager else "nobody"
        updated = await clients.reassign(
            session, actor=actor, client_id=client.id, manager_reference=p.get("account_manager_id")
        )
        after = updated.account_manager.display_name if updated.account_manager else "nobody"
        result.change = f"account manager {before} → {after}"
    else:
        linked = await jobs.link_jobs(
            session,
            actor=actor,
            client_id=client.id,
            references=p["job_references"],
            move=bool(p.get("move")),
        )
        if linked.conflicts or linked.not_found:
            problems = [f"{r} is linked to {c}" for r, c in linked.conflicts] + [
                f"no job {r}" for r in linked.not_found
            ]
            raise ValidationFailed({"job_references": "; ".join(problems)}, "; ".join(problems))
        result.change = f"linked {', '.join(linked.linked) or 'nothing new'}"
    return result


async def run(db: Database, *, actor_id: Any, data: BulkIn) -> list[BulkResult]:
    """Each client in its own transaction; a dry run rolls every one back."""
    async with db.session() as session:
        actor = await users.get(session, actor_id)
        require(actor, required_role(data), "run this bulk operation")
    results = []
    for reference in dict.fromkeys(data.client_ids):
        async with db.sessionmaker() as session:
            try:
                actor = await users.get(session, actor_id)
                result = await _apply(session, actor, data, reference)
                if data.dry_run:
                    await session.rollback()
                else:
                    await session.commit()
            except DomainError as error:
                await session.rollback()
                detail = (
                    " ".join(error.fields.values()) if isinstance(error, ValidationFailed) else str(error)
                )
                result = BulkResult(reference, None, False, error=detail)
        results.append(result)
    return results
