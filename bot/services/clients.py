"""Client profiles: create, edit, status, duplicates, lookup and listing."""

from __future__ import annotations

import collections
import difflib
import math
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, overload
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator
from sqlalchemy import Integer, bindparam, cast, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, joinedload, selectinload

from bot.db import (
    built_once,
    columns_of,
    dialect_name,
    lock_names,
    next_code,
    paged,
    read_page,
    read_rows,
    record_type,
)
from bot.errors import (
    Ambiguous,
    DuplicateSuspected,
    NotFound,
    PermissionDenied,
    UnknownClient,
    ValidationFailed,
)
from bot.models import Client, ClientContact, ClientCount, ClientStatus, Role, SubscriptionEvent, User, utcnow
from bot.roles import has_role, require
from bot.services import audit, subscriptions, users
from bot.services.fields import (
    company_domain,
    email_domain,
    normalize_company_name,
    normalize_phone,
    normalize_website,
    website_domain,
)
from bot.services.inputs import FieldProblems, parse_input

if TYPE_CHECKING:
    from bot.services.health import Health, Thresholds  # imports this module

CODE_PATTERN = re.compile(r"^CLT-(\d{4})-(\d{4,})$", re.IGNORECASE)
PAGE_SIZE = 20
# Active contacts per client: as many as the Slack edit modal can hold within its 100 blocks
# (views.clients.MAX_FORM_CONTACTS is checked against this), so no contact is ever out of reach there.
MAX_CONTACTS = 10

Text100 = Field(default=None, max_length=100)


class ContactIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    id: uuid.UUID | None = None
    full_name: str = Field(min_length=1, max_length=255)
    title: str | None = Text100
    email: EmailStr = Field(max_length=255)
    phone: str | None = Field(default=None, max_length=50)
    mobile: str | None = Field(default=None, max_length=50)
    is_primary: bool = False
    remove: bool = False

    @field_validator("title", "phone", "mobile", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value


class ClientIn(BaseModel):
    """A client profile as submitted by the modal or the API; phones come out in E.164."""

    model_config = ConfigDict(str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=255)
    industry: str | None = Text100
    website: str | None = Field(default=None, max_length=255)
    address: str | None = Field(default=None, max_length=2000)
    city: str | None = Text100
    state: str | None = Text100
    country: str | None = Text100
    postal_code: str | None = Field(default=None, max_length=20)
    account_manager_id: str | None = None
    contacts: list[ContactIn] = Field(min_length=1, max_length=5 * MAX_CONTACTS)

    @field_validator(
        "industry",
        "website",
        "address",
        "city",
        "state",
        "country",
        "postal_code",
        "account_manager_id",
        mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("website")
    @classmethod
    def _website(cls, value: str | None) -> str | None:
        return normalize_website(value) if value else None

    @model_validator(mode="after")
    def _contacts(self) -> ClientIn:
        problems: dict[str, str] = {}
        for index, contact in enumerate(self.contacts):
            for kind in ("phone", "mobile"):
                raw = getattr(contact, kind)
                if raw:
                    try:
                        setattr(contact, kind, normalize_phone(raw, self.country))
                    except ValueError as exc:
                        problems[f"contacts.{index}.{kind}"] = str(exc)
        kept = [c for c in self.contacts if not c.remove]
        if len(kept) > MAX_CONTACTS:
            problems["contacts"] = f"A client can have at most {MAX_CONTACTS} active contacts."
        if not kept:
            problems["contacts.0.full_name"] = "A client needs at least one contact."
        elif len(kept) == 1 and not kept[0].is_primary:
            kept[0].is_primary = True  # a single contact is the primary one
        elif (primaries := sum(c.is_primary for c in kept)) != 1:
            target = next(i for i, c in enumerate(self.contacts) if not c.remove)
            problems[f"contacts.{target}.is_primary"] = (
                "Mark exactly one contact as primary."
                if primaries == 0
                else f"{primaries} contacts are marked primary; keep exactly one."
            )
        if problems:
            raise FieldProblems(problems)
        return self


def parse_client(data: dict[str, Any]) -> ClientIn:
    """Validate raw input into a ClientIn, or raise ValidationFailed with one message per field: all of
    them at once, the phone numbers too (the model checks those only once every field is valid)."""
    try:
        return parse_input(ClientIn, data)
    except ValidationFailed as error:
        raise ValidationFailed(_phone_problems(data) | error.fields) from None


def _phone_problems(data: dict[str, Any]) -> dict[str, str]:
    """The phone numbers ClientIn would refuse, read from raw input."""
    problems: dict[str, str] = {}
    country = data.get("country") if isinstance(data.get("country"), str) else None
    contacts = data.get("contacts") if isinstance(data.get("contacts"), list) else []
    for index, contact in enumerate(contacts):
        for kind in ("phone", "mobile"):
            raw = contact.get(kind) if isinstance(contact, dict) else None
            if isinstance(raw, str) and raw.strip():
                try:
                    normalize_phone(raw.strip(), (country or "").strip() or None)
                except ValueError as exc:
                    problems[f"contacts.{index}.{kind}"] = str(exc)
    return problems


@dataclass(frozen=True)
class DuplicateMatch:
    client_id: uuid.UUID
    client_code: str
    name: str
    reason: str


def duplicate_keys(data: ClientIn) -> list[str]:
    """What find_duplicates matches on (the normalised name, company domains), as lock names."""
    domains = {d for c in data.contacts if not c.remove and (d := company_domain(c.email))}
    if site := website_domain(data.website):
        domains.add(site)
    return [f"client-name:{normalize_company_name(data.name)}", *(f"client-domain:{d}" for d in domains)]


async def find_duplicates(
    session: AsyncSession, data: ClientIn, *, exclude: uuid.UUID | None = None
) -> list[DuplicateMatch]:
    """Clients with the same normalised name, or sharing a company email/website domain."""
    matches: dict[uuid.UUID, DuplicateMatch] = {}
    normalized = normalize_company_name(data.name)
    query = select(Client.id, Client.client_code, Client.name).where(Client.name_normalized == normalized)
    if exclude:
        query = query.where(Client.id != exclude)
    for row in await session.execute(query.limit(10)):
        matches[row.id] = DuplicateMatch(row.id, row.client_code, row.name, "same name")

    domains = {d for c in data.contacts if not c.remove and (d := company_domain(c.email))}
    if site := website_domain(data.website):
        domains.add(site)
    if domains:
        by_contact = (
            select(Client.id, Client.client_code, Client.name, ClientContact.email_domain.label("domain"))
            .join(ClientContact, ClientContact.client_id == Client.id)
            .where(ClientContact.email_domain.in_(domains), ClientContact.is_active.is_(True))
        )
        by_site = select(
            Client.id, Client.client_code, Client.name, Client.website_domain.label("domain")
        ).where(Client.website_domain.in_(domains))
        for sub in (by_contact, by_site):
            if exclude:
                sub = sub.where(Client.id != exclude)
            for row in await session.execute(sub.limit(10)):
                matches.setdefault(
                    row.id, DuplicateMatch(row.id, row.client_code, row.name, f"same domain {row.domain}")
                )
    return list(matches.values())[:10]


async def next_client_code(session: AsyncSession, year: int) -> str:
    return await next_code(session, "CLT", year)


async def check_account_manager(session: AsyncSession, reference: str | None) -> User | None:
    if reference is None:
        return None
    manager = await users.by_reference(session, reference)
    if manager is None:
        raise ValidationFailed({"account_manager_id": "No such user."})
    if not users.may_manage_accounts(manager):
        raise ValidationFailed({"account_manager_id": "The account manager must be an HR Manager or Admin."})
    return manager


def _profile_values(data: ClientIn) -> dict[str, Any]:
    return {
        "name": data.name,
        "name_normalized": normalize_company_name(data.name),
        "industry": data.industry,
        "website": data.website,
        "website_domain": website_domain(data.website),
        "address": data.address,
        "city": data.city,
        "state": data.state,
        "country": data.country,
        "postal_code": data.postal_code,
    }


def _contact_values(contact: ContactIn) -> dict[str, Any]:
    return {
        "full_name": contact.full_name,
        "title": contact.title,
        "email": str(contact.email).lower(),
        "email_domain": email_domain(str(contact.email)),
        "phone": contact.phone,
        "mobile": contact.mobile,
        "is_primary": contact.is_primary,
    }


async def create(
    session: AsyncSession,
    *,
    actor: User,
    data: ClientIn,
    confirm_duplicate: bool = False,
    logo_key: str | None = None,
    logo_slack_file_id: str | None = None,
    tz: ZoneInfo | None = None,
) -> Client:
    require(actor, Role.MANAGER, "create clients")
    manager = await check_account_manager(session, data.account_manager_id)
    if not confirm_duplicate:
        # Check and insert as one: a concurrent creation of the same name or domain waits here until this
        # transaction ends, then finds this client.
        await lock_names(session, duplicate_keys(data))
        if matches := await find_duplicates(session, data):
            raise DuplicateSuspected(matches)
    now = utcnow()
    year = now.astimezone(tz).year if tz else now.year
    client = Client(
        id=uuid.uuid4(),
        client_code=await next_client_code(session, year),
        status=ClientStatus.ACTIVE.value,
        account_manager_id=manager.id if manager else None,
        created_by=actor.id,
        logo_url=logo_key,
        logo_slack_file_id=logo_slack_file_id,
        created_at=now,
        updated_at=now,
        **_profile_values(data),
    )
    session.add(client)
    contacts = [
        ClientContact(client_id=client.id, **_contact_values(c)) for c in data.contacts if not c.remove
    ]
    session.add_all(contacts)
    await session.flush()
    after = audit.snapshot(client) | {"contacts": [audit.snapshot(c) for c in contacts]}
    audit.record(session, actor=actor, action="client.created", entity=client, after=after)
    return await get(session, client.id)


async def update(
    session: AsyncSession,
    *,
    actor: User,
    client_id: uuid.UUID,
    data: ClientIn,
    logo_key: str | None = None,
    logo_slack_file_id: str | None = None,
) -> Client:
    """Edit the profile and contacts. Removed contacts are deactivated (kept, with an audit entry)."""
    require(actor, Role.MANAGER, "edit clients")
    client = await get(session, client_id)
    manager = await check_account_manager(session, data.account_manager_id)
    before = audit.snapshot(client)
    for key, value in _profile_values(data).items():
        setattr(client, key, value)
    client.account_manager_id = manager.id if manager else None
    if logo_key:
        client.logo_url, client.logo_slack_file_id = logo_key, logo_slack_file_id
    existing = {c.id: c for c in client.contacts}
    for contact in data.contacts:
        row = existing.get(contact.id) if contact.id else None
        if contact.id and row is None:
            raise ValidationFailed({"contacts": "A contact being edited no longer belongs to this client."})
        if contact.remove:
            if row is not None and row.is_active:
                row.is_active, row.is_primary = False, False
                audit.record(
                    session,
                    actor=actor,
                    action="contact.deactivated",
                    entity=row,
                    before={"is_active": True},
                    after={"is_active": False},
                )
            continue
        if row is None:
            row = ClientContact(client_id=client.id, **_contact_values(contact))
            session.add(row)
            await session.flush()
            audit.record(
                session, actor=actor, action="contact.created", entity=row, after=audit.snapshot(row)
            )
            continue
        contact_before = audit.snapshot(row)
        for key, value in _contact_values(contact).items():
            setattr(row, key, value)
        row.is_active = True
        audit.record_changes(
            session, actor=actor, action="contact.updated", entity=row, before=contact_before
        )
    submitted = {c.id for c in data.contacts if c.id}
    untouched = [c for c in existing.values() if c.is_active and c.id not in submitted]
    active_before = sum(c.is_active for c in existing.values())
    active_after = len(untouched) + sum(not c.remove for c in data.contacts)
    if active_after > MAX_CONTACTS and active_after > active_before:
        raise ValidationFailed(
            {"contacts": f"A client can have at most {MAX_CONTACTS} active contacts; remove one first."}
        )
    if any(c.is_primary and not c.remove for c in data.contacts):
        for row in untouched:  # exactly one primary, even when some contacts were not in the edit
            row.is_primary = False
    await session.flush()
    audit.record_changes(session, actor=actor, action="client.updated", entity=client, before=before)
    session.expire(client)  # reload the contacts collection with the rows added above
    return await get(session, client_id)


async def reassign(
    session: AsyncSession, *, actor: User, client_id: uuid.UUID, manager_reference: str | None
) -> Client:
    """Give the client another account manager (an HR Manager or Admin), or none."""
    require(actor, Role.MANAGER, "reassign account managers")
    client = await get(session, client_id)
    manager = await check_account_manager(session, manager_reference)
    before = {"account_manager_id": audit.jsonable(client.account_manager_id)}
    client.account_manager_id = manager.id if manager else None
    audit.record(
        session,
        actor=actor,
        action="client.reassigned",
        entity=client,
        before=before,
        after={"account_manager_id": audit.jsonable(client.account_manager_id)},
    )
    await session.flush()
    session.expire(client, ["account_manager"])
    return await get(session, client_id)


_ADMIN_STATUSES = {ClientStatus.INACTIVE, ClientStatus.ARCHIVED}


async def change_status(
    session: AsyncSession,
    *,
    actor: User,
    client_id: uuid.UUID,
    status: ClientStatus,
    reason: str | None = None,
) -> Client:
    """Active/on-hold: managers. Inactive (deactivation) and archived: admins only, with a reason."""
    if status in _ADMIN_STATUSES:
        require(actor, Role.ADMIN, "deactivate or archive clients")
    else:
        require(actor, Role.MANAGER, "change a client's status")
    reason = (reason or "").strip() or None
    if status in _ADMIN_STATUSES and not reason:
        raise ValidationFailed({"reason": f"Say why the client is {status.value}."})
    if reason and len(reason) > 2000:
        raise ValidationFailed({"reason": "Keep the reason under 2000 characters."})
    client = await get(session, client_id)
    before = {
        "status": client.status,
        "deactivated_at": audit.jsonable(client.deactivated_at),
        "deactivation_reason": client.deactivation_reason,
    }
    if status in _ADMIN_STATUSES:
        client.deactivated_at = utcnow()
        client.deactivation_reason = reason
    else:
        client.deactivated_at = None
        client.deactivation_reason = None
    client.status = status.value
    after = {
        "status": client.status,
        "deactivated_at": audit.jsonable(client.deactivated_at),
        "deactivation_reason": client.deactivation_reason,
    }
    if reason and status not in _ADMIN_STATUSES:
        after["reason"] = reason
    audit.record(
        session, actor=actor, action="client.status_changed", entity=client, before=before, after=after
    )
    if before["status"] != client.status:
        await subscriptions.publish(
            session,
            client,
            SubscriptionEvent.STATUS,
            before=before["status"],
            after=client.status,
            reason=reason,
            by=actor.slack_user_id,
        )
    await session.flush()
    return client


async def deactivate(session: AsyncSession, *, actor: User, client_id: uuid.UUID, reason: str) -> Client:
    return await change_status(
        session, actor=actor, client_id=client_id, status=ClientStatus.INACTIVE, reason=reason
    )


def _with_details(query: Any, client: Any = Client) -> Any:
    # The account manager joined (one row each), the contacts in a second statement (many rows).
    return query.options(selectinload(client.contacts), joinedload(client.account_manager))


# A client as its columns only, named as Client's attributes (`find(entity=False)`): for readers, at
# half the cost of loading the entity. With `details`, a ClientCard: the same columns, then its contacts
# (ContactRecord, in the relationship's order) and its account manager (users.UserRecord, or None).
ClientRecord = record_type(Client, "ClientRecord", __name__)
ContactRecord = record_type(ClientContact, "ContactRecord", __name__)
ClientCard = collections.namedtuple(  # type: ignore[misc]
    "ClientCard", (*ClientRecord._fields, "contacts", "account_manager")
)


async def _one_with_details(
    session: AsyncSession, by: str, value: Any, details: bool = True, entity: bool = True
) -> Client | ClientRecord | ClientCard | None:
    """One client by `id` or `client_code`, with (`details`) its account manager and contacts, in one
    statement (a client has a few contacts): the entity, or (not `entity`) its columns (`ClientRecord`,
    with details a `ClientCard`)."""
    if entity:
        query = _one_with_details_query(by) if details else _one_entity_query(by)
        return (await session.execute(query, {by: value})).unique().scalar_one_or_none()
    rows = await read_rows(session, _one_record_query(by, details), {by: value})
    if not rows:
        return None
    if not details:
        return ClientRecord._make(rows[0])
    client, manager = len(ClientRecord._fields), len(ClientRecord._fields) + len(users.UserRecord._fields)
    manager_id, contact_id = (
        client + users.UserRecord._fields.index("id"),
        manager + ContactRecord._fields.index("id"),
    )
    return ClientCard(
        *rows[0][:client],
        [ContactRecord._make(row[manager:]) for row in rows if row[contact_id] is not None],
        None if rows[0][manager_id] is None else users.UserRecord._make(rows[0][client:manager]),
    )


@built_once
def _one_record_query(by: str, details: bool) -> Any:
    query = select(*columns_of(Client, ClientRecord)).where(getattr(Client, by) == bindparam(by))
    if not details:
        return query
    manager, contact = aliased(User, name="manager"), aliased(ClientContact, name="contact")
    return (
        query.add_columns(
            *(getattr(manager, key).label(f"manager_{key}") for key in users.UserRecord._fields),
            *(getattr(contact, key).label(f"contact_{key}") for key in ContactRecord._fields),
        )
        .outerjoin(manager, manager.id == Client.account_manager_id)
        .outerjoin(contact, contact.client_id == Client.id)
        .order_by(contact.is_primary.desc(), contact.created_at)
    )


@built_once
def _one_entity_query(by: str) -> Any:
    return select(Client).where(getattr(Client, by) == bindparam(by))


@built_once
def _one_with_details_query(by: str) -> Any:
    return (
        select(Client)
        .where(getattr(Client, by) == bindparam(by))
        .options(joinedload(Client.contacts), joinedload(Client.account_manager))
    )


def can_view(user: User, client: Client) -> bool:
    """THE visibility rule, for one client (`visible_to` is the same rule in SQL): Slack guests see no
    client, recruiters every client but archived ones, HR Managers and Admins all."""
    if user.is_guest:
        return False
    return has_role(user, Role.MANAGER) or client.status != ClientStatus.ARCHIVED.value


def can_view_any(user: User) -> bool:
    return not user.is_guest


def require_any_view(user: User) -> None:
    if not can_view_any(user):
        raise PermissionDenied("Slack guest accounts can't see client records.")


def require_visible(user: User, client: Client) -> None:
    require_any_view(user)
    if not can_view(user, client):
        raise PermissionDenied(
            f"{client.client_code} is archived: only an HR Manager or Admin can see its records."
        )


def _seen_by(client: Client, viewer: User | None) -> Client:
    if viewer is not None:
        require_visible(viewer, client)
    return client


@overload
async def get(
    session: AsyncSession,
    client_id: uuid.UUID,
    *,
    viewer: User | None = ...,
    details: bool = ...,
    entity: Literal[True] = ...,
) -> Client: ...
@overload
async def get(
    session: AsyncSession,
    client_id: uuid.UUID,
    *,
    viewer: User | None = ...,
    details: bool = ...,
    entity: bool,
) -> Client | ClientRecord | ClientCard: ...
async def get(
    session: AsyncSession,
    client_id: uuid.UUID,
    *,
    viewer: User | None = None,
    details: bool = True,
    entity: bool = True,
) -> Client | ClientRecord | ClientCard:
    """A client by id; with `viewer`, only one that user may see (PermissionDenied otherwise). Every read
    on someone's behalf passes `viewer`; internal lookups (writes that check roles, jobs) may omit it.
    `details`: its contacts and account manager too; not `entity`: a reader's columns (`ClientRecord`,
    with details a `ClientCard`), nothing it could change or load lazily."""
    if viewer is not None:
        require_any_view(viewer)
    client = await _one_with_details(session, "id", client_id, details, entity)
    if client is None:
        raise NotFound("No such client.")
    return _seen_by(client, viewer)


@dataclass(frozen=True)
class ClientChoice:
    """One client a name matched, as plain values: an Ambiguous error outlives its session (the reply is
    built after the rollback, when ORM rows can no longer be read)."""

    id: uuid.UUID
    client_code: str
    name: str
    status: str

    @classmethod
    def of(cls, client: Client) -> ClientChoice:
        return cls(client.id, client.client_code, client.name, client.status)


async def _close_to(
    session: AsyncSession, text: str, column: Any, viewer: User | None, *, scan: int = 5000
) -> list[ClientChoice]:
    """Up to 3 clients (among those `viewer` may see) whose name or code is spelled like `text` (difflib),
    to offer when nothing matches it."""
    seen = visible_to(viewer) if viewer is not None else true()
    rows = (
        await session.execute(
            select(Client.id, Client.client_code, Client.name, Client.status).where(seen).limit(scan)
        )
    ).all()
    by_text = {str(getattr(row, column.key)).lower(): row for row in rows}
    close = difflib.get_close_matches(text.lower(), list(by_text), n=3, cutoff=0.6)
    return [ClientChoice(*by_text[c]) for c in close]


async def named_in(
    session: AsyncSession, text: str, *, viewer: User, scan: int = 5000
) -> ClientChoice | None:
    """The client a piece of text names (its code, or its name as whole words; the longest name wins),
    among those `viewer` may see; None when it names none."""
    if not text or not can_view_any(viewer):
        return None
    rows = (
        await session.execute(
            select(Client.id, Client.client_code, Client.name, Client.status)
            .where(visible_to(viewer))
            .limit(scan)
        )
    ).all()
    lowered = text.lower()
    named = [
        row
        for row in rows
        if row.client_code.lower() in lowered
        or re.search(rf"(?<!\w){re.escape(row.name.lower())}(?!\w)", lowered)
    ]
    best = max(named, key=lambda row: (row.client_code.lower() in lowered, len(row.name)), default=None)
    return ClientChoice(*best) if best else None


@overload
async def find(
    session: AsyncSession,
    reference: str,
    *,
    viewer: User | None = ...,
    details: bool = ...,
    entity: Literal[True] = ...,
) -> Client: ...
@overload
async def find(
    session: AsyncSession, reference: str, *, viewer: User | None = ..., details: bool = ..., entity: bool
) -> Client | ClientRecord | ClientCard: ...
async def find(
    session: AsyncSession,
    reference: str,
    *,
    viewer: User | None = None,
    details: bool = True,
    entity: bool = True,
) -> Client | ClientRecord | ClientCard:
    """A client by UUID, code (CLT-2026-0001) or an unambiguous name; with `viewer`, names match only
    among the clients that user may see, and an invisible client by id or code is refused. `details` and
    `entity` as in `get`, for a client found by UUID or code (by name: the entity with its details)."""
    text = reference.strip()
    if not text:
        raise NotFound("Say which client: a code like CLT-2026-0001 or a name.")
    if viewer is not None:
        require_any_view(viewer)
    try:
        return await get(session, uuid.UUID(text), viewer=viewer, details=details, entity=entity)
    except ValueError:
        pass
    if CODE_PATTERN.match(text):
        client = await _one_with_details(session, "client_code", text.upper(), details, entity)
        if client is None:
            raise UnknownClient(
                f"No client has the code {text.upper()}.",
                query=text,
                suggestions=await _close_to(session, text.upper(), Client.client_code, viewer),
            )
        return _seen_by(client, viewer)
    seen = visible_to(viewer) if viewer is not None else true()
    exact = list(
        await session.scalars(
            _with_details(
                select(Client).where(Client.name_normalized == normalize_company_name(text), seen)
            ).limit(11)
        )
    )
    if len(exact) == 1:
        return exact[0]
    candidates = exact or list(
        await session.scalars(
            _with_details(select(Client).where(contains(text, Client.name), seen))
            .order_by(Client.name)
            .limit(11)
        )
    )
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise UnknownClient(
            f"No client matches “{text}”.",
            query=text,
            suggestions=await _close_to(session, text, Client.name, viewer),
        )
    raise Ambiguous(
        f"“{text}” matches several clients; use a client code.",
        [ClientChoice.of(c) for c in candidates[:10]],
        query=text,
    )


async def find_exact(session: AsyncSession, reference: str, *, viewer: User | None = None) -> Client:
    """A client by UUID or code only (what the API's `{client_id}` accepts); `viewer` as in `get`."""
    text = reference.strip()
    if viewer is not None:
        require_any_view(viewer)
    try:
        return await get(session, uuid.UUID(text), viewer=viewer)
    except ValueError:
        pass
    client = await _one_with_details(session, "client_code", text.upper())
    if client is None:
        raise NotFound(f"No client {text}.")
    return _seen_by(client, viewer)


async def referenced(session: AsyncSession, reference: str, *, field: str = "client_id") -> Client:
    """The client a body names (API, job modal, CSV import): by UUID or exact code, the rule of the API's
    `{client_id}` path, never by a fuzzy name that could pick another client. Unknown: 422 on `field`."""
    try:
        return await find_exact(session, reference)
    except NotFound:
        raise ValidationFailed(
            {field: "No client has this id or code; give the client's UUID or its code (CLT-2026-0001)."}
        ) from None


async def status_summary(session: AsyncSession, *, viewer: User | None = None) -> dict[str, int]:
    """How many clients have each status, plus the total (of the clients `viewer` may see)."""
    seen = true()
    if viewer is not None:
        require_any_view(viewer)
        seen = visible_to(viewer)
    rows = dict(
        (await session.execute(select(Client.status, func.count()).where(seen).group_by(Client.status))).all()
    )
    summary = {s.value: int(rows.get(s.value, 0)) for s in ClientStatus}
    return summary | {"total": sum(summary.values())}


def visibility(user: User) -> str:
    """Which clients `user` may see and log against ("all", "unarchived" or "none"): the rule of
    `can_view`, as a key for statements built once per rule."""
    if user.is_guest:
        return "none"
    if has_role(user, Role.MANAGER):
        return "all"
    return "unarchived"


def _visibility_on(status: Any) -> dict[str, Any]:
    """The visibility rule (`visibility`) as SQL on a client status column: the clients' own, or the
    per-status counts' (`ClientCount`) for a list's total."""
    return {"all": true(), "none": false(), "unarchived": status != ClientStatus.ARCHIVED.value}


_VISIBLE = _visibility_on(Client.status)
_VISIBLE_COUNTS = _visibility_on(ClientCount.status)


def visible_to(user: User) -> Any:
    """SQL condition for the clients `user` may see and log against."""
    return _VISIBLE[visibility(user)]


async def picker_options(session: AsyncSession, *, actor: User, text: str, limit: int = 100) -> list[Client]:
    """Type-ahead for client pickers: clients by name or code among those the actor may see (the same
    ones `/client log` accepts; nothing for Slack guests), active and on-hold ones first."""
    rows = await session.scalars(
        select(Client)
        .where(contains(text, Client.name, Client.client_code))
        .where(visible_to(actor))
        .order_by(Client.status.notin_([ClientStatus.ACTIVE.value, ClientStatus.ON_HOLD.value]), Client.name)
        .limit(limit)
    )
    return list(rows)


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def containing(text: str) -> str:
    """The LIKE pattern of "contains `text`", `%` and `_` taken literally (for `matches`)."""
    return f"%{escape_like(text.strip())}%"


def matches(pattern: Any, *columns: Any) -> Any:
    """Case-insensitive "any of these columns is LIKE `pattern`" (a `containing` pattern, or a bindparam
    bound to one)."""
    return or_(*(column.ilike(pattern, escape="\\") for column in columns))


def contains(text: str, *columns: Any) -> Any:
    """Case-insensitive "any of these columns contains `text`", `%` and `_` taken literally."""
    return matches(containing(text), *columns)


SORTS = {
    "name": Client.name,
    "client_code": Client.client_code,
    "created_at": Client.created_at,
    "status": Client.status,
    "industry": Client.industry,
}


@dataclass
class ClientFilter:
    status: ClientStatus | None = None
    industry: str | None = None
    account_manager_id: uuid.UUID | None = None
    created_from: date | None = None
    created_to: date | None = None
    search: str | None = None
    sort_by: str = "name"  # a key of SORTS (or "health"), "-" in front for descending
    health: str | None = None  # a health level (services/health.py), as of the nightly snapshot


class ClientSummary(NamedTuple):
    """A client as a list shows it: a row, not an entity with its relationships."""

    id: uuid.UUID
    client_code: str
    name: str
    status: str
    industry: str | None
    city: str | None
    state: str | None
    country: str | None
    manager_slack_id: str | None  # the account manager
    contact_name: str | None  # the primary contact (`primary_contact`)
    contact_email: str | None


@dataclass
class ClientPage:
    clients: list[Any]  # Client entities, or ClientSummary rows (`summaries=True`)
    total: int
    page: int
    pages: int
    per_page: int
    health: dict[uuid.UUID, Health] | None = None  # client id -> its health, when asked (`health_on`)


def _day_start(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz)


async def list_clients(
    session: AsyncSession,
    *,
    filters: ClientFilter,
    page: int = 1,
    per_page: int = PAGE_SIZE,
    tz: ZoneInfo = ZoneInfo("UTC"),
    viewer: User | None = None,
    health_on: date | None = None,
    thresholds: Thresholds | None = None,
    summaries: bool = False,
) -> ClientPage:
    """A page of clients matching `filters`, among those `viewer` may see (guests: refused): entities with
    their contacts and account manager, or with `summaries` ClientSummary rows (what a list shows, in the
    page's one statement). With `health_on`, each tracked client's health on that day (under
    `thresholds`) comes with the page, read in the same statement. The statement is built once per set of
    filters used, their values bound."""
    from bot.services import health  # imports this module

    if viewer is not None:
        require_any_view(viewer)
    values = _filter_values(filters, tz)
    if filters.health:
        values |= await health.at_level_values(session, health.parse_level(filters.health))
    thresholds = thresholds or health.Thresholds()
    shape = (
        dialect_name(session),
        visibility(viewer) if viewer is not None else "all",
        tuple(sorted(values)),
    )
    if filters.sort_by.lstrip("-") == "health":
        return await _by_health(
            session, shape, values, filters, page, per_page, health_on, thresholds, summaries
        )
    query, counted = _page_query(*shape, filters.sort_by, health_on is not None, summaries)
    if health_on is not None:
        values |= health.figure_values(health_on, thresholds)
    rows, total, page, pages = await read_page(
        session, query, counted, page, per_page, values, columns_only=summaries
    )
    healths = health.assess(rows, today=health_on, thresholds=thresholds) if health_on else None
    found = [_summary_of(row) if summaries else row[0] for row in rows]
    return ClientPage(found, total, page, pages, per_page, healths)


def _filter_values(filters: ClientFilter, tz: ZoneInfo) -> dict[str, Any]:
    """The values `filters` bind, by the name of their condition (`_condition`)."""
    values: dict[str, Any] = {}
    if filters.status:
        values["status"] = filters.status.value
    if filters.industry:
        values["industry"] = filters.industry.strip().lower()
    if filters.account_manager_id:
        values["account_manager_id"] = filters.account_manager_id
    if filters.created_from:
        values["created_from"] = _day_start(filters.created_from, tz)
    if filters.created_to:
        values["created_to"] = _day_start(filters.created_to + timedelta(days=1), tz)
    if filters.search:
        values["pattern"] = containing(filters.search)
    return values


# A list filter's condition, by the name of the value it binds (health's level: `health.AT_LEVEL`).
_LIST_FILTERS = {
    "status": Client.status == bindparam("status"),
    "industry": func.lower(Client.industry) == bindparam("industry"),
    "account_manager_id": Client.account_manager_id == bindparam("account_manager_id"),
    "created_from": Client.created_at >= bindparam("created_from"),
    "created_to": Client.created_at < bindparam("created_to"),
    "pattern": matches(bindparam("pattern"), Client.name, Client.client_code),
}


def _condition(name: str) -> Any:
    """The list filter bound to the value named `name` (None: a value another filter reads as well)."""
    if name.startswith("health_"):
        from bot.services import health  # imports this module

        return health.AT_LEVEL if name == "health_level" else None
    return _LIST_FILTERS[name]


def _conditions(seen: str, filtered: tuple[str, ...]) -> list[Any]:
    conditions = (_condition(name) for name in filtered)
    return [_VISIBLE[seen], *(c for c in conditions if c is not None)]


@built_once
def _page_query(
    dialect: str, seen: str, filtered: tuple[str, ...], sort_by: str, health: bool, summaries: bool
) -> Any:
    """(a page of clients with their total, their count) for viewers who see `seen`, filtered on the
    values named `filtered`: entities, or `summaries` columns; with `health`, each row carries the health
    figures as well, computed for the page's rows only (the page is cut in a subquery first)."""
    conditions = _conditions(seen, filtered)
    # The total rides on the page's rows (a scalar subquery, evaluated once); filtered by status at most,
    # it is read off the counts kept per status (`ClientCount`), not counted.
    if set(filtered) <= {"status"}:
        by_status = [_VISIBLE_COUNTS[seen]]
        if "status" in filtered:
            by_status.append(ClientCount.status == bindparam("status"))
        counted = select(cast(func.coalesce(func.sum(ClientCount.clients), 0), Integer)).where(*by_status)
    else:
        counted = select(func.count()).select_from(Client).where(*conditions)
    ordered = select(Client).where(*conditions).order_by(_order(sort_by), Client.client_code)
    client = aliased(Client, paged(ordered).subquery("page"))
    columns = [counted.scalar_subquery().label("total")]
    if health:
        from bot.services.health import figure_columns  # imports this module

        columns += figure_columns(dialect, client)
    query = _summaries_of(client, columns) if summaries else _with_details(select(client, *columns), client)
    return query.order_by(_order(sort_by, client), client.client_code), counted


_SUMMARY_PREFIX = "summary_"  # labels ClientSummary's columns apart from the health figures' (id, status)


def _summaries_of(client: Any, columns: list[Any]) -> Any:
    """ClientSummary columns of `client` (the entity or an alias), then `columns`: the account manager and
    the primary contact joined (the contact `primary_contact` picks: active, primary first, then oldest)."""
    contact = aliased(ClientContact)
    manager = aliased(User)
    first_contact = (
        select(ClientContact.id)
        .where(ClientContact.client_id == client.id, ClientContact.is_active.is_(True))
        .order_by(ClientContact.is_primary.desc(), ClientContact.created_at, ClientContact.id)
        .limit(1)
        .correlate(client)
        .scalar_subquery()
    )
    fields = (
        client.id,
        client.client_code,
        client.name,
        client.status,
        client.industry,
        client.city,
        client.state,
        client.country,
        manager.slack_user_id,
        contact.full_name,
        contact.email,
    )
    summary = [f.label(_SUMMARY_PREFIX + name) for f, name in zip(fields, ClientSummary._fields, strict=True)]
    return (
        select(*summary, *columns)
        .select_from(client)
        .outerjoin(manager, manager.id == client.account_manager_id)
        .outerjoin(contact, contact.id == first_contact)
    )


def _summary_of(row: Any) -> ClientSummary:
    return ClientSummary(*row[: len(ClientSummary._fields)])


async def _by_health(
    session: AsyncSession,
    shape: tuple[str, str, tuple[str, ...]],
    values: dict[str, Any],
    filters: ClientFilter,
    page: int,
    per_page: int,
    health_on: date | None,
    thresholds: Thresholds,
    summaries: bool,
) -> ClientPage:
    """`list_clients` ordered by health (the nightly snapshot; services/health.py)."""
    from bot.services import health  # imports this module

    ids, total, page = await health.ordered_page(
        session,
        _conditions(*shape[1:]),
        values,
        descending=filters.sort_by == "-health",
        page=page,
        per_page=per_page,
    )
    if summaries:
        rows = await read_rows(session, _summaries_of(Client, []).where(Client.id.in_(ids)))
        loaded = {row[0]: _summary_of(row) for row in rows}
    else:
        found = await session.scalars(_with_details(select(Client)).where(Client.id.in_(ids)))
        loaded = {c.id: c for c in found}
    pages = max(1, math.ceil(total / per_page))
    healths = (
        await health.compute(session, ids, today=health_on, thresholds=thresholds) if health_on else None
    )
    return ClientPage([loaded[i] for i in ids], total, page, pages, per_page, healths)


def check_sort(sort_by: str) -> None:
    """Refuse an unknown sort (ValidationFailed naming the choices)."""
    if sort_by.lower().lstrip("-") != "health":
        _order(sort_by.lower())


def _order(sort_by: str, client: Any = Client) -> Any:
    """The ORDER BY of `sort_by` (a key of SORTS, "-" in front for descending) on `client` (the `Client`
    entity or an alias of it)."""
    column = SORTS.get(sort_by.lstrip("-"))
    if column is None:
        raise ValidationFailed(
            {"sort_by": f"Sort by one of {', '.join(SORTS)}, health (prefix - for descending)."}
        )
    column = getattr(client, column.key)
    return column.desc() if sort_by.startswith("-") else column


def primary_contact(client: Client) -> ClientContact | None:
    active = [c for c in client.contacts if c.is_active]
    return next((c for c in active if c.is_primary), active[0] if active else None)
