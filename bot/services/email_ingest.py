"""Automatic email logging: a raw RFC 822 message becomes an Email communication of the client it
belongs to (matched by a contact's address, else by a company domain), with its attachments.

The message is read in a worker process (bot/mailparse.py), never on the event loop. Its sender must have
been authenticated by the receiving host (`Authentication-Results`, RFC 8601): otherwise it is refused
(policy "reject") or logged marked unverified (policy "flag", source `email-unverified`)."""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import EmailStr, TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import clock, mailparse
from bot.errors import Ambiguous, ValidationFailed
from bot.mailparse import Attachment, ParsedEmail
from bot.models import Client, ClientCommunication, ClientContact, CommunicationType
from bot.services import communications, users
from bot.services.communications import IncomingFile
from bot.services.fields import company_domain
from bot.storage import Storage

log = logging.getLogger(__name__)

MAX_EMAIL_BYTES = 35 * 1024 * 1024  # the default of CLIENTBOT_EMAIL_MAX_MB
SOURCE = "email"
UNVERIFIED_SOURCE = "email-unverified"
AuthPolicy = Literal["reject", "flag"]
_EMAIL = TypeAdapter(EmailStr)
# A sender's Date is believed unless it is later than this past the receipt (clocks drift) or before email.
_FUTURE_SLACK = timedelta(days=1)
_EARLIEST = datetime(1971, 1, 1, tzinfo=UTC)


class Unmatched(ValidationFailed):
    """No client (or more than one) fits the message's addresses."""


class Unauthenticated(ValidationFailed):
    """The receiving host did not vouch for the From address, and the policy is to refuse such mail."""

    code = "unauthenticated"


def _usable(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(name, address) pairs whose address is a real one (the rule participants are validated by); an
    unparsable one such as `undisclosed@localhost` is left out rather than failing the whole message."""
    usable = []
    for name, address in pairs:
        try:
            _EMAIL.validate_python(address)
        except ValidationError:
            continue
        usable.append((name.strip()[:255], address.lower()))
    return usable


async def match_client(session: AsyncSession, emails: list[str]) -> Client:
    by_contact = set(
        await session.scalars(
            select(ClientContact.client_id).where(
                ClientContact.email.in_(emails), ClientContact.is_active.is_(True)
            )
        )
    )
    found = by_contact
    if not found:
        domains = {d for e in emails if (d := company_domain(e))}
        if domains:
            found = set(
                await session.scalars(
                    select(ClientContact.client_id).where(
                        ClientContact.email_domain.in_(domains), ClientContact.is_active.is_(True)
                    )
                )
            )
            found |= set(await session.scalars(select(Client.id).where(Client.website_domain.in_(domains))))
    if len(found) > 1:
        matches = list(await session.scalars(select(Client).where(Client.id.in_(found))))
        raise Ambiguous(
            "The message's addresses match several clients: " + ", ".join(c.client_code for c in matches[:5]),
            matches,
        )
    if not found:
        raise Unmatched(
            {"addresses": "No client has a contact or company domain among the message's addresses."},
            "No client matches this message.",
        )
    client = await session.get(Client, found.pop())
    assert client is not None
    return client


def sent_at(date: datetime | None, received_at: datetime) -> datetime:
    """When the message was sent: its Date header, or the receipt time when that is missing, unreadable,
    out of range (`Fri, 31 Dec 9999 23:59:59 -2359` cannot even be expressed in UTC), more than a day in
    the future, or before email existed. The Date header is the sender's word; the receipt time is ours."""
    if date is None:
        return received_at
    try:
        utc = date.astimezone(UTC) if date.tzinfo else date.replace(tzinfo=UTC)
    except (OverflowError, ValueError):
        return received_at
    if utc < _EARLIEST or utc > received_at + _FUTURE_SLACK:
        return received_at
    return utc


async def read(path: Path, *, within: float) -> ParsedEmail:
    """The parts of the message in the file at `path`, read in a worker process within `within` seconds."""
    try:
        return await mailparse.read(str(path), within=within)
    except mailparse.ParseTimeout as error:
        raise ValidationFailed({"message": str(error)}, "The message is too complex to read.") from None
    except mailparse.Unreadable as error:
        log.warning("email: a message could not be parsed: %s", error)
        raise ValidationFailed({"message": "The message could not be read as RFC 822 email."}) from None


def _spool(chunks: list[bytes]) -> Path:
    workdir = Path(tempfile.mkdtemp(prefix="clientbot-email-"))
    with (workdir / "message.eml").open("wb") as handle:
        handle.writelines(chunks)
    return workdir / "message.eml"


def _read(attachments: list[Attachment]) -> list[IncomingFile]:
    return [IncomingFile(name=a.name, content=a.read()) for a in attachments]


async def ingest(
    session: AsyncSession,
    storage: Storage,
    chunks: list[bytes],
    *,
    auth_policy: AuthPolicy = "reject",
    authserv_ids: frozenset[str] = frozenset(),
    max_bytes: int = MAX_EMAIL_BYTES,
    parse_timeout: float = 30.0,
) -> tuple[ClientCommunication, bool]:
    """Log the raw message (its bytes as received, in chunks) as an Email communication: (record, created).
    A message delivered again (same Message-ID, kept as a `mid:` URL in the permalink) answers the record
    already logged. The message and its attachments pass through a scratch directory, never joined into one
    big bytes object in this process (such copies hold the GIL, and the event loop with it)."""
    if sum(len(chunk) for chunk in chunks) > max_bytes:
        raise ValidationFailed({"message": f"The message is larger than {max_bytes // (1024 * 1024)} MB."})
    received_at = clock.now()
    spool = await asyncio.to_thread(_spool, chunks)
    try:
        return await _ingest(
            session,
            storage,
            await read(spool, within=parse_timeout),
            received_at=received_at,
            auth_policy=auth_policy,
            authserv_ids=authserv_ids,
            max_bytes=max_bytes,
        )
    finally:
        await asyncio.to_thread(shutil.rmtree, spool.parent, ignore_errors=True)


async def _ingest(
    session: AsyncSession,
    storage: Storage,
    email: ParsedEmail,
    *,
    received_at: datetime,
    auth_policy: AuthPolicy,
    authserv_ids: frozenset[str],
    max_bytes: int,
) -> tuple[ClientCommunication, bool]:
    senders = _usable(email.senders)
    addresses = senders + _usable(email.recipients)
    if not senders:
        raise ValidationFailed({"message": "That is not an email message (no From address)."})
    verdict = mailparse.authenticate(email.auth_results, authserv_ids=authserv_ids, sender=senders[0][1])
    if not verdict.verified and auth_policy == "reject":
        raise Unauthenticated(
            {
                "from": f"The receiving host did not authenticate {senders[0][1]} ({verdict.reason}); "
                "the message was not logged (CLIENTBOT_EMAIL_AUTH=reject)."
            },
            f"Unverified sender {senders[0][1]}: {verdict.reason}.",
        )
    client = await match_client(session, [address for _, address in addresses])
    permalink = f"mid:{email.message_id}"[:500] if email.message_id else None
    if permalink:
        logged = await session.scalar(
            select(ClientCommunication).where(
                ClientCommunication.client_id == client.id,
                ClientCommunication.source.in_((SOURCE, UNVERIFIED_SOURCE)),
                ClientCommunication.permalink == permalink,
            )
        )
        if logged is not None:
            return logged, False
    # Reading, hashing and writing up to tens of megabytes: in a thread, so the event loop keeps answering.
    files = await asyncio.to_thread(_read, email.attachments)
    stored = await communications.save_attachments(storage, files, max_bytes=max_bytes)
    data = communications.parse_communication(
        {
            "communication_type": CommunicationType.EMAIL.value,
            "communication_date": sent_at(email.date, received_at),
            "participants": [{"name": name or None, "email": address} for name, address in addresses[:100]],
            "subject": email.subject or "(no subject)",
            "notes": email.body or None,
            "permalink": permalink,
        }
    )
    actor = await users.resolve(
        session, slack_user_id="email:ingest", admins=(), display_name="Email integration"
    )
    record = await communications.log(
        session,
        actor=actor,
        client_id=client.id,
        data=data,
        attachments=stored,
        source=SOURCE if verdict.verified else UNVERIFIED_SOURCE,
    )
    return record, True
