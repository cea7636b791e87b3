"""Onboarding import: clients with their contacts from spreadsheets and CRM exports (HubSpot, Salesforce,
or the seed's own column names); past communications are in communication_imports.

One row per contact, grouped into clients by `client_code`, else by normalised name + company domain.
Every client is validated exactly as the modal validates it (`clients.ClientIn`), checked against the same
duplicate rules (`clients.find_duplicates`' name and domain keys), and written all-or-nothing: good clients
are kept, refused ones are reported with the file's line numbers. New clients are written set-based (one
statement per table and batch, codes reserved in file order under the counter's row lock)."""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
import logging
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import Database, lock_names, next_codes
from bot.errors import DomainError, ValidationFailed
from bot.models import (
    AuditLog,
    Client,
    ClientContact,
    ClientStatus,
    Role,
    User,
    utcnow,
)
from bot.roles import has_role, require
from bot.services import audit, clients, users
from bot.services.fields import (
    company_domain,
    normalize_company_name,
    normalize_website,
    website_domain,
)
from bot.services.imports import RowError, database_problem

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 50 * 1024 * 1024  # the CLI; Slack and the API accept less (UPLOAD_MAX_BYTES)
UPLOAD_MAX_BYTES = 10 * 1024 * 1024
BATCH = 500  # clients per transaction

CLIENT_FIELDS = (
    "name",
    "industry",
    "website",
    "address",
    "city",
    "state",
    "country",
    "postal_code",
    "status",
    "account_manager",
)
CONTACT_FIELDS = (
    "contact_name",
    "contact_title",
    "contact_email",
    "contact_phone",
    "contact_mobile",
    "is_primary",
)
CLIENT_IMPORT_FIELDS = ("client_code", *CLIENT_FIELDS, *CONTACT_FIELDS, "first_name", "last_name")


def header_key(header: str) -> str:
    """ "State/Region", "state_region", "STATE REGION" -> "stateregion"."""
    return re.sub(r"[^0-9a-z]+", "", header.casefold())


def header_aliases(pairs: dict[str, Iterable[str]]) -> dict[str, str]:
    return {header_key(alias): target for target, names in pairs.items() for alias in (target, *names)}


# Column headers of the common CRM exports, by field. HubSpot: companies and contacts exports;
# Salesforce: accounts and contacts reports/Data Loader exports; the seed's own names.
CLIENT_HEADERS = header_aliases(
    {
        "client_code": ["code", "client id"],
        "name": ["client name", "company", "company name", "associated company", "account name", "account"],
        "industry": ["industry"],
        "website": ["company domain name", "website url", "domain", "web site", "url"],
        "address": [
            "street address",
            "street",
            "billingstreet",
            "billing street",
            "address 1",
            "address line 1",
        ],
        "city": ["billingcity", "billing city", "town"],
        "state": ["state/region", "billingstate", "billing state/province", "region", "province", "county"],
        "country": ["country/region", "billingcountry", "billing country"],
        "postal_code": [
            "postal code",
            "zip",
            "zip code",
            "postcode",
            "billingpostalcode",
            "billing zip/postal code",
        ],
        "status": ["client status"],
        "account_manager": ["account manager", "account_manager_id", "account manager email"],
        "contact_name": ["full name", "contact", "contact full name"],
        "first_name": ["first name", "firstname"],
        "last_name": ["last name", "lastname", "surname"],
        "contact_title": ["job title", "title", "jobtitle"],
        "contact_email": ["email", "email address", "e-mail", "contact email address"],
        "contact_phone": ["phone", "phone number", "business phone", "work phone", "telephone"],
        "contact_mobile": ["mobile", "mobile phone number", "mobilephone", "mobile phone", "cell"],
        "is_primary": ["primary", "primary contact"],
    }
)

_TRUE = {"1", "y", "yes", "true", "x", "primary", "oui", "ja"}
_MAGIC = {
    b"PK\x03\x04": "a ZIP archive or an Excel workbook (save it as CSV)",
    b"\xd0\xcf\x11\xe0": "an old Excel/Word file (save it as CSV)",
    b"%PDF": "a PDF",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"\x7fELF": "a program",
    b"MZ": "a program",
}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d")


def neutralise_cell(value: str) -> str:
    """A cell a spreadsheet would run as a formula (=, +, -, @, tab) is prefixed with a quote."""
    return "'" + value if value.startswith(_FORMULA_START) else value


# --- reading ---------------------------------------------------------------------------------------


def decode(data: bytes) -> str:
    """Text of a CSV file: UTF-8 (with or without BOM), UTF-16 (BOM, or NULs every other byte) or
    Windows-1252. Anything that is not text (a workbook, an image, a program) is refused."""
    for magic, what in _MAGIC.items():
        if data.startswith(magic):
            raise ValidationFailed({"file": f"This is not a CSV file: it looks like {what}."})
    head = data[:4096]
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings = ["utf-16"]
    elif data.startswith(codecs.BOM_UTF8):
        encodings = ["utf-8-sig"]
    elif len(head) > 1 and head[1::2].count(0) > len(head) // 4:
        encodings = ["utf-16-le"]
    elif len(head) > 1 and head[0::2].count(0) > len(head) // 4:
        encodings = ["utf-16-be"]
    else:
        encodings = ["utf-8", "cp1252"]
    for encoding in encodings:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if _CONTROL.search(text[:65536]):
            break
        return text
    raise ValidationFailed({"file": "This is not a CSV text file (binary content)."})


def _delimiter(text: str) -> str:
    first = text.split("\n", 1)[0]
    try:
        return csv.Sniffer().sniff(first, delimiters=",;\t").delimiter
    except csv.Error:
        return max(",;\t", key=first.count)


@dataclass
class Table:
    header: list[str]
    rows: list[tuple[int, list[str]]]  # (first line of the record, cells)
    unreadable: list[RowError] = field(default_factory=list)


def read_table(data: bytes, *, max_bytes: int = MAX_FILE_BYTES) -> Table:
    if len(data) > max_bytes:
        raise ValidationFailed({"file": f"The file is larger than {max_bytes // (1024 * 1024)} MB."})
    text = decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    header: list[str] | None = None
    table = Table(header=[], rows=[])
    previous = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            table.unreadable.append(RowError(previous + 1, {"row": f"Not valid CSV: {error}."}))
            previous = reader.line_num
            continue
        line, previous = previous + 1, reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if header is None:
            header = [cell.strip() for cell in cells]
            continue
        if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
            table.unreadable.append(
                RowError(line, {"row": f"{len(cells)} values but the header has {len(header)} columns."})
            )
            continue
        table.rows.append((line, [c.strip() for c in cells]))
    if header is None:
        raise ValidationFailed({"file": "The file is empty: it needs a header line and one row per contact."})
    table.header = header
    return table


def parse_map(specs: Iterable[str], known: Iterable[str]) -> dict[str, str]:
    """`--map 'Column=field'` options -> {header key: field}."""
    fields = set(known)
    mapping: dict[str, str] = {}
    for spec in specs:
        column, sep, target = spec.partition("=")
        target = target.strip().lower()
        if not sep or not column.strip() or target not in fields:
            raise ValidationFailed(
                {"map": f"“{spec}”: use Column=field, field one of {', '.join(sorted(fields))}."}
            )
        mapping[header_key(column)] = target
    return mapping


def resolve_columns(
    header: list[str], aliases: dict[str, str], mapping: dict[str, str] | None = None
) -> tuple[dict[int, str], list[str]]:
    """Column index -> field (an explicit map first, then the known headers), and the ignored headers."""
    columns: dict[int, str] = {}
    ignored: list[str] = []
    for index, name in enumerate(header):
        key = header_key(name)
        target = (mapping or {}).get(key) or aliases.get(key)
        if target and target not in columns.values():
            columns[index] = target
        elif name:
            ignored.append(name)
    return columns, ignored


def records(table: Table, columns: dict[int, str]) -> list[tuple[int, dict[str, str]]]:
    out = []
    for line, cells in table.rows:
        record = {target: cells[index] for index, target in columns.items() if index < len(cells)}
        out.append((line, {k: v for k, v in record.items() if v}))
    return out


# --- clients ---------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What happened (or would happen) to one client of the file."""

    action: str  # created | updated | duplicate | refused
    name: str
    lines: list[int]
    client_code: str | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "name": self.name,
            "lines": self.lines,
            "client_code": self.client_code,
            "detail": self.detail,
        }


@dataclass
class ClientImportReport:
    dry_run: bool
    rows: int = 0
    clients: list[Outcome] = field(default_factory=list)
    refused_lines: list[RowError] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    cells: dict[int, list[str]] = field(default_factory=dict)  # line -> the row as read, for the report

    def of(self, action: str) -> list[Outcome]:
        return [o for o in self.clients if o.action == action]

    @property
    def counts(self) -> dict[str, int]:
        return {a: len(self.of(a)) for a in ("created", "updated", "duplicate", "refused")}

    def summary(self) -> str:
        c = self.counts
        verb = "would be " if self.dry_run else ""
        text = (
            f"{self.rows} rows, {len(self.clients)} clients: {c['created']} {verb}created, "
            f"{c['updated']} {verb}updated, {c['duplicate']} duplicate{'s' * (c['duplicate'] != 1)} skipped, "
            f"{c['refused']} refused ({len(self.refused_lines)} line{'s' * (len(self.refused_lines) != 1)})"
        )
        return text + (" — dry run, nothing written" if self.dry_run else "")

    def lines_text(self) -> list[str]:
        """One line per client (created/updated/duplicate) and per refused line, in file order."""
        out = []
        for outcome in self.clients:
            if outcome.action == "refused":
                continue
            where = line_span(outcome.lines)
            code = f" {outcome.client_code}" if outcome.client_code else ""
            detail = f" ({outcome.detail})" if outcome.detail else ""
            out.append(f"  {outcome.action}{code} {outcome.name} — {where}{detail}")
        for failure in sorted(self.refused_lines, key=lambda f: f.line):
            out.append(f"  refused line {failure.line}: {describe_problems(failure)}")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "rows": self.rows,
            "counts": self.counts,
            "clients": [o.as_dict() for o in self.clients],
            "refused_lines": [{"line": f.line, "errors": f.errors} for f in self.refused_lines],
            "ignored_columns": self.ignored_columns,
        }

    def refused_csv(self) -> str:
        """The refused lines as CSV (line, problems, then the row as read), formulas neutralised."""
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["line", "problems", *self.header])
        for failure in sorted(self.refused_lines, key=lambda f: f.line):
            cells = self.cells.get(failure.line, [])
            writer.writerow(
                [neutralise_cell(str(v)) for v in (failure.line, describe_problems(failure), *cells)]
            )
        return buffer.getvalue()


def line_span(lines: list[int]) -> str:
    if len(lines) == 1:
        return f"line {lines[0]}"
    if lines == list(range(lines[0], lines[-1] + 1)):
        return f"lines {lines[0]}-{lines[-1]}"
    return "lines " + ", ".join(map(str, lines))


def describe_problems(failure: RowError) -> str:
    return "; ".join(f"{k}: {v}" for k, v in failure.errors.items())


@dataclass
class Group:
    """The rows of one client."""

    key: tuple[str, ...]
    lines: list[int] = field(default_factory=list)
    values: dict[str, str] = field(default_factory=dict)  # client fields: first non-empty value wins
    contacts: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    data: clients.ClientIn | None = None
    errors: dict[int, dict[str, str]] = field(default_factory=dict)
    status: str = ClientStatus.ACTIVE.value
    manager_id: uuid.UUID | None = None

    @property
    def name(self) -> str:
        return self.values.get("name") or self.values.get("client_code") or "(no name)"

    def refuse(self, line: int, errors: dict[str, str]) -> None:
        self.errors.setdefault(line, {}).update(errors)


def _domain_of(record: dict[str, str]) -> str:
    if website := record.get("website"):
        try:
            return website_domain(normalize_website(website)) or ""
        except ValueError:
            return ""
    return (
        company_domain(record.get("contact_email", "")) or ""
        if "@" in record.get("contact_email", "")
        else ""
    )


def group_rows(records: list[tuple[int, dict[str, str]]]) -> list[Group]:
    """Rows -> clients, in file order (a client's place is its first line)."""
    groups: dict[tuple[str, ...], Group] = {}
    for line, record in records:
        if "contact_name" not in record and (record.get("first_name") or record.get("last_name")):
            record["contact_name"] = " ".join(
                part for part in (record.get("first_name"), record.get("last_name")) if part
            )
        if code := record.get("client_code"):
            key: tuple[str, ...] = ("code", code.upper())
        elif record.get("name"):
            key = ("name", normalize_company_name(record["name"]), _domain_of(record))
        else:
            key = ("line", str(line))
        group = groups.setdefault(key, Group(key))
        group.lines.append(line)
        for name in ("client_code", *CLIENT_FIELDS):
            if record.get(name) and name not in group.values:
                group.values[name] = record[name]
        contact = {k: v for k, v in record.items() if k in CONTACT_FIELDS}
        email = contact.get("contact_email", "").lower()
        same = next(
            (c for _, c in group.contacts if email and c.get("contact_email", "").lower() == email), None
        )
        if same is not None:  # the same person on several rows: one contact, blanks filled in
            same.update({k: v for k, v in contact.items() if k not in same})
        elif any(k != "is_primary" for k in contact):
            group.contacts.append((line, contact))
    return list(groups.values())


_FIELD_NAMES = {
    "full_name": "contact_name",
    "title": "contact_title",
    "email": "contact_email",
    "phone": "contact_phone",
    "mobile": "contact_mobile",
    "is_primary": "is_primary",
}


def _contact_input(values: dict[str, str]) -> dict[str, Any]:
    return {
        "full_name": values.get("contact_name", ""),
        "title": values.get("contact_title"),
        "email": values.get("contact_email", ""),
        "phone": values.get("contact_phone"),
        "mobile": values.get("contact_mobile"),
        "is_primary": values.get("is_primary", "").strip().lower() in _TRUE,
    }


def _profile_input(values: dict[str, str]) -> dict[str, Any]:
    return {k: values.get(k) for k in CLIENT_FIELDS if k not in ("status", "account_manager")}


def _validate(group: Group, data: dict[str, Any], lines: list[int]) -> clients.ClientIn | None:
    """`clients.parse_client` (the modal's rules); problems land on the line they are about."""
    try:
        return clients.parse_client(data)
    except ValidationFailed as error:
        for key, message in error.fields.items():
            parts = key.split(".")
            if (
                parts[0] == "contacts"
                and len(parts) >= 3
                and parts[1].isdigit()
                and int(parts[1]) < len(lines)
            ):
                group.refuse(lines[int(parts[1])], {_FIELD_NAMES.get(parts[2], parts[2]): message})
            else:
                name = {"account_manager_id": "account_manager", "contacts": "contact_name"}.get(
                    parts[0], key
                )
                group.refuse(group.lines[0], {name: message})
        return None


def _new_client_input(group: Group) -> dict[str, Any]:
    contacts = [_contact_input(values) for _, values in group.contacts]
    if contacts and not any(c["is_primary"] for c in contacts):
        contacts[0]["is_primary"] = True  # a CRM export has no primary flag: the first contact is
    return {**_profile_input(group.values), "contacts": contacts}


async def user_by_reference(session: AsyncSession, reference: str) -> User | None:
    if "@" in reference:
        return await session.scalar(
            select(User).where(func.lower(User.email) == reference.strip().lower()).limit(1)
        )
    return await users.by_reference(session, reference.strip())


async def _resolve_people(session: AsyncSession, actor: User, groups: list[Group]) -> None:
    """Account manager (Slack id, UUID or email; an HR Manager or Admin) and status, per client."""
    found: dict[str, User | None] = {}
    for group in groups:
        if reference := group.values.get("account_manager"):
            if reference not in found:
                found[reference] = await user_by_reference(session, reference)
            manager = found[reference]
            if manager is None:
                group.refuse(
                    group.lines[0], {"account_manager": "No such user (give a Slack id or an email)."}
                )
            elif not users.may_manage_accounts(manager):
                group.refuse(
                    group.lines[0], {"account_manager": "The account manager must be an HR Manager or Admin."}
                )
            else:
                group.manager_id = manager.id
        if status := group.values.get("status"):
            wanted = status.strip().lower().replace(" ", "-").replace("_", "-")
            if wanted not in {s.value for s in ClientStatus}:
                group.refuse(group.lines[0], {"status": "Use active, on-hold, inactive or archived."})
            elif wanted in ("inactive", "archived") and not has_role(actor, Role.ADMIN):
                group.refuse(
                    group.lines[0], {"status": "Only an Admin can import inactive or archived clients."}
                )
            else:
                group.status = wanted


@dataclass
class _Existing:
    by_code: dict[str, uuid.UUID] = field(default_factory=dict)
    by_name: dict[str, list[tuple[uuid.UUID, str, str]]] = field(default_factory=dict)
    by_domain: dict[str, list[tuple[uuid.UUID, str, str]]] = field(default_factory=dict)
    names: dict[uuid.UUID, tuple[str, str]] = field(default_factory=dict)


def _chunks(items: list[Any], size: int = 900) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _keys(data: clients.ClientIn) -> tuple[str, set[str]]:
    domains = {d for c in data.contacts if not c.remove and (d := company_domain(str(c.email)))}
    if site := website_domain(data.website):
        domains.add(site)
    return normalize_company_name(data.name), domains


async def _existing(session: AsyncSession, codes: set[str], names: set[str], domains: set[str]) -> _Existing:
    """The stored clients that the file's codes, names and domains may match (find_duplicates' rules)."""
    found = _Existing()
    for chunk in _chunks(sorted(codes)):
        for row in await session.execute(
            select(Client.id, Client.client_code).where(Client.client_code.in_(chunk))
        ):
            found.by_code[row.client_code] = row.id
    queries = []
    for chunk in _chunks(sorted(names)):
        queries.append(
            (
                found.by_name,
                select(Client.id, Client.client_code, Client.name, Client.name_normalized.label("k")).where(
                    Client.name_normalized.in_(chunk)
                ),
            )
        )
    for chunk in _chunks(sorted(domains)):
        queries.append(
            (
                found.by_domain,
                select(Client.id, Client.client_code, Client.name, Client.website_domain.label("k")).where(
                    Client.website_domain.in_(chunk)
                ),
            )
        )
        queries.append(
            (
                found.by_domain,
                select(Client.id, Client.client_code, Client.name, ClientContact.email_domain.label("k"))
                .join(ClientContact, ClientContact.client_id == Client.id)
                .where(ClientContact.email_domain.in_(chunk), ClientContact.is_active.is_(True))
                .distinct(),
            )
        )
    for target, query in queries:
        for row in await session.execute(query):
            entries = target.setdefault(row.k, [])
            if all(e[0] != row.id for e in entries):
                entries.append((row.id, row.client_code, row.name))
    return found


def _matches(found: _Existing, data: clients.ClientIn) -> dict[uuid.UUID, tuple[str, str, str]]:
    name, domains = _keys(data)
    matches: dict[uuid.UUID, tuple[str, str, str]] = {}
    for cid, code, label in found.by_name.get(name, []):
        matches[cid] = (code, label, "same name")
    for domain in sorted(domains):
        for cid, code, label in found.by_domain.get(domain, []):
            matches.setdefault(cid, (code, label, f"same domain {domain}"))
    return matches


def _existing_contact_input(contact: ClientContact) -> dict[str, Any]:
    return {
        "id": contact.id,
        "full_name": contact.full_name,
        "title": contact.title,
        "email": contact.email,
        "phone": contact.phone,
        "mobile": contact.mobile,
        "is_primary": contact.is_primary and contact.is_active,
    }


def _merged_input(client: Client, group: Group) -> tuple[dict[str, Any], list[int]]:
    """The client's profile and contacts with the file's non-empty values laid over them: contacts are
    merged by email, never removed. Returns the input and, per contact, the file line it came from."""
    profile = {k: group.values.get(k) or getattr(client, k) for k in _profile_input(group.values)}
    manager = group.manager_id or client.account_manager_id
    contacts = [_existing_contact_input(c) for c in client.contacts if c.is_active]
    lines = [group.lines[0]] * len(contacts)
    by_email = {c.email.lower(): c for c in client.contacts}
    for line, values in group.contacts:
        incoming = _contact_input(values)
        email = incoming["email"].lower()
        index = next((i for i, c in enumerate(contacts) if str(c["email"]).lower() == email), None)
        if index is None:
            stored = by_email.get(email)
            contacts.append(_existing_contact_input(stored) if stored else {"is_primary": False})
            lines.append(line)
            index = len(contacts) - 1
        else:
            lines[index] = line
        flagged = incoming.pop("is_primary")
        contacts[index].update({k: v for k, v in incoming.items() if v})
        if flagged:
            for other in contacts:
                other["is_primary"] = False
            contacts[index]["is_primary"] = True
    if contacts and not any(c.get("is_primary") for c in contacts):
        contacts[0]["is_primary"] = True
    return {**profile, "account_manager_id": str(manager) if manager else None, "contacts": contacts}, lines


def _outcome_refused(group: Group) -> tuple[Outcome, list[RowError]]:
    first = min(group.errors)
    failures = [RowError(line, group.errors[line]) for line in sorted(group.errors)]
    for line in group.lines:
        if line not in group.errors:
            failures.append(RowError(line, {"row": f"Not imported: its client was refused (line {first})."}))
    detail = describe_problems(failures[0])
    return Outcome("refused", group.name, group.lines, detail=detail), failures


def _plan(
    groups: list[Group], existing: _Existing, *, update: bool, report: ClientImportReport
) -> tuple[list[Group], list[tuple[Group, uuid.UUID]]]:
    """Which valid clients are new (in file order), which update a stored one (`update`), which are
    duplicates (reported): of a stored client by code, name or domain, or of an earlier one in the file."""
    creates: list[Group] = []
    updates: list[tuple[Group, uuid.UUID]] = []
    taken_names: dict[str, int] = {}
    taken_domains: dict[str, int] = {}
    for group in groups:
        if group.errors:
            continue
        target: uuid.UUID | None = None
        duplicate = ""
        if group.key[0] == "code" and group.key[1] in existing.by_code:
            target = existing.by_code[group.key[1]]
            duplicate = f"already exists as {group.key[1]}"
        elif group.data is None:
            continue  # refused by validation
        elif matches := _matches(existing, group.data):
            described = [f"{reason} as {code} {label}" for code, label, reason in matches.values()]
            duplicate = "; ".join(described[:3])
            if len(matches) == 1:
                target = next(iter(matches))
            elif update:
                group.refuse(
                    group.lines[0], {"row": f"Matches several clients ({duplicate}); give a client_code."}
                )
                continue
        else:
            name, found_domains = _keys(group.data)
            earlier = taken_names.get(name) or next(
                (taken_domains[d] for d in sorted(found_domains) if d in taken_domains), None
            )
            if earlier:
                report.clients.append(
                    Outcome("duplicate", group.name, group.lines, detail=f"same client as line {earlier}")
                )
                continue
            taken_names[name] = group.lines[0]
            taken_domains.update({d: group.lines[0] for d in found_domains})
            creates.append(group)
            continue
        if update and target is not None:
            updates.append((group, target))
        else:
            report.clients.append(Outcome("duplicate", group.name, group.lines, detail=duplicate))

    return creates, updates


async def require_manager(db: Database, actor_id: uuid.UUID, action: str) -> None:
    async with db.session() as session:
        require(await users.get(session, actor_id), Role.MANAGER, action)


async def import_clients(
    db: Database,
    *,
    data: bytes,
    actor_id: uuid.UUID,
    dry_run: bool = False,
    update: bool = False,
    mapping: dict[str, str] | None = None,
    tz: ZoneInfo | None = None,
    max_bytes: int = MAX_FILE_BYTES,
    progress: Callable[[int, int], None] | None = None,
) -> ClientImportReport:
    """Import (or with `dry_run` only check) a clients file; see the module docstring."""
    await require_manager(db, actor_id, "import clients")  # before reading a byte of the file
    table = read_table(data, max_bytes=max_bytes)
    columns, ignored = resolve_columns(table.header, CLIENT_HEADERS, mapping)
    if "name" not in columns.values() and "client_code" not in columns.values():
        raise ValidationFailed(
            {
                "file": "No column gives the client's name (e.g. “name”, “Company name”, “Account Name”); "
                "map one with --map 'Column=name'."
            }
        )
    report = ClientImportReport(dry_run=dry_run, ignored_columns=ignored, header=table.header)
    report.rows = len(table.rows) + len(table.unreadable)
    report.cells = dict(table.rows)
    report.refused_lines.extend(table.unreadable)
    groups = group_rows(records(table, columns))

    async with db.session() as session:
        actor = await users.get(session, actor_id)
        await _resolve_people(session, actor, groups)
        codes = {g.key[1] for g in groups if g.key[0] == "code"}
        known_codes = (await _existing(session, codes, set(), set())).by_code
        for index, group in enumerate(groups):
            if index % 200 == 199:
                await asyncio.sleep(0)  # validation is CPU work: let the app's other requests through
            if group.key[0] == "line":
                group.refuse(group.lines[0], {"name": "This field is required."})
            elif group.key[0] == "name" or group.key[1] not in known_codes:
                group.data = _validate(group, _new_client_input(group), [line for line, _ in group.contacts])
        names, domains = set(), set()
        for group in groups:
            if group.data is not None:
                name, found_domains = _keys(group.data)
                names.add(name)
                domains |= found_domains
        existing = await _existing(session, codes, names, domains)

    creates, updates = _plan(groups, existing, update=update, report=report)

    outcomes: dict[int, Outcome] = {}
    done = 0
    total = len(creates) + len(updates)
    for group, target in updates:
        outcome = await _update_one(db, actor_id, group, target, dry_run=dry_run)
        if outcome is not None:
            outcomes[group.lines[0]] = outcome
        done += 1
        if progress:
            progress(done, total)
    for batch in _chunks(creates, BATCH):
        if dry_run:
            for group in batch:
                outcomes[group.lines[0]] = Outcome("created", group.name, group.lines)
        else:
            for outcome in await _create_batch(db, actor_id, batch, tz):
                outcomes[outcome.lines[0]] = outcome
        done += len(batch)
        if progress:
            progress(done, total)

    for group in groups:
        if group.errors:
            outcome, failures = _outcome_refused(group)
            report.refused_lines.extend(failures)
            outcomes[group.lines[0]] = outcome
    report.clients.extend(outcomes.values())
    report.clients.sort(key=lambda o: o.lines[0])
    report.refused_lines.sort(key=lambda f: f.line)
    return report


async def _update_one(
    db: Database, actor_id: uuid.UUID, group: Group, target: uuid.UUID, *, dry_run: bool
) -> Outcome | None:
    """`clients.update` with the merged profile and contacts, in its own transaction; None when refused
    (the group then carries its errors)."""
    try:
        async with db.session() as session:
            actor = await users.get(session, actor_id)
            client = await clients.get(session, target)
            raw, lines = _merged_input(client, group)
            data = _validate(group, raw, lines)
            if data is None:
                return None
            outcome = Outcome("updated", group.name, group.lines, client_code=client.client_code)
            if dry_run:
                return outcome
            await lock_names(session, clients.duplicate_keys(data))
            await clients.update(session, actor=actor, client_id=client.id, data=data)
            return outcome
    except DomainError as error:
        fields = getattr(error, "fields", None) or {"row": str(error)}
        group.refuse(group.lines[0], fields)
    except SQLAlchemyError as error:
        group.refuse(group.lines[0], {"row": database_problem(error)})
    return None


async def _create_batch(
    db: Database, actor_id: uuid.UUID, batch: list[Group], tz: ZoneInfo | None
) -> list[Outcome]:
    """Create a batch in one transaction; if the database refuses it, each client on its own."""
    async with db.session() as session:
        actor = await users.get(session, actor_id)
        try:
            async with session.begin_nested():
                return await _insert_clients(session, actor, batch, tz)
        except SQLAlchemyError as error:
            log.warning("client import batch failed, retrying client by client: %s", error)
        outcomes: list[Outcome] = []
        for group in batch:
            try:
                async with session.begin_nested():
                    outcomes += await _insert_clients(session, actor, [group], tz)
            except SQLAlchemyError as error:
                group.refuse(group.lines[0], {"row": database_problem(error)})
        return outcomes


async def _insert_clients(
    session: AsyncSession, actor: User, batch: list[Group], tz: ZoneInfo | None
) -> list[Outcome]:
    """Set-based creation: lock the batch's duplicate keys (a concurrent modal waits), look again for
    duplicates created meanwhile, reserve the codes in file order, then one INSERT per table."""
    keys = [k for g in batch for k in clients.duplicate_keys(g.data)]  # type: ignore[arg-type]
    await lock_names(session, keys)
    names, domains = set(), set()
    for group in batch:
        name, found = _keys(group.data)  # type: ignore[arg-type]
        names.add(name)
        domains |= found
    existing = await _existing(session, set(), names, domains)
    outcomes: list[Outcome] = []
    fresh: list[Group] = []
    for group in batch:
        if matches := _matches(existing, group.data):  # type: ignore[arg-type]
            code, label, reason = next(iter(matches.values()))
            outcomes.append(
                Outcome("duplicate", group.name, group.lines, detail=f"{reason} as {code} {label}")
            )
        else:
            fresh.append(group)
    now = utcnow()
    year = now.astimezone(tz).year if tz else now.year
    codes = await next_codes(session, "CLT", year, len(fresh))
    client_rows: list[dict[str, Any]] = []
    contact_rows: list[dict[str, Any]] = []
    audit_rows: list[dict[str, Any]] = []
    for group, code in zip(fresh, codes, strict=True):
        data = group.data
        assert data is not None
        inactive = group.status in (ClientStatus.INACTIVE.value, ClientStatus.ARCHIVED.value)
        row = {
            "id": uuid.uuid4(),
            "client_code": code,
            "status": group.status,
            "account_manager_id": group.manager_id,
            "created_by": actor.id,
            "created_at": now,
            "updated_at": now,
            "deactivated_at": now if inactive else None,
            "deactivation_reason": "Imported as " + group.status if inactive else None,
            **clients._profile_values(data),
        }
        contacts = [
            {
                "id": uuid.uuid4(),
                "client_id": row["id"],
                "is_active": True,
                "created_at": now,
                "updated_at": now,
                **clients._contact_values(c),
            }
            for c in data.contacts
        ]
        client_rows.append(row)
        contact_rows.extend(contacts)
        audit_rows.append(
            {
                "id": uuid.uuid4(),
                "actor_id": actor.id,
                "action": "client.created",
                "entity_type": Client.__tablename__,
                "entity_id": row["id"],
                "before": None,
                "after": {k: audit.jsonable(v) for k, v in row.items()}
                | {
                    "contacts": [{k: audit.jsonable(v) for k, v in c.items()} for c in contacts],
                    "source": "import",
                },
                "created_at": now,
            }
        )
        outcomes.append(Outcome("created", group.name, group.lines, client_code=code))
    if client_rows:
        # Core executemany (batched multi-row VALUES), not the ORM's unit of work.
        await session.execute(insert(Client.__table__), client_rows)
        await session.execute(insert(ClientContact.__table__), contact_rows)
        await session.execute(insert(AuditLog.__table__), audit_rows)
    return outcomes


def write_refused(path: Path, report: ClientImportReport) -> None:
    path.write_text(report.refused_csv(), encoding="utf-8-sig")
