"""Automatic email logging: a raw RFC 822 message becomes an Email communication of the client it
belongs to (matched by a contact's address, else by a company domain), with its attachments."""

from __future__ import annotations

import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from html import unescape

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import clock
from bot.errors import Ambiguous, ValidationFailed
from bot.models import Client, ClientCommunication, ClientContact, CommunicationType
from bot.services import communications, users
from bot.services.communications import IncomingFile
from bot.services.fields import company_domain
from bot.storage import LocalStorage

MAX_EMAIL_BYTES = 25 * 1024 * 1024
_TAGS = re.compile(r"<[^>]+>")


class Unmatched(ValidationFailed):
    """No client (or more than one) fits the message's addresses."""


def _addresses(message: EmailMessage) -> list[tuple[str, str]]:
    pairs = getaddresses([str(v) for h in ("from", "to", "cc") for v in message.get_all(h, [])])
    return [(name, email.lower()) for name, email in pairs if "@" in email]


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


def _body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    text = part.get_content()
    if part.get_content_type() == "text/html":
        text = unescape(_TAGS.sub(" ", text))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


async def ingest(
    session: AsyncSession, storage: LocalStorage, raw: bytes
) -> tuple[ClientCommunication, bool]:
    """Log the message as an Email communication: (record, created). A message delivered again (same
    Message-ID, kept as a `mid:` URL in the permalink) answers the record already logged."""
    if len(raw) > MAX_EMAIL_BYTES:
        raise ValidationFailed({"message": "The message is larger than 25 MB."})
    message = BytesParser(policy=policy.default).parsebytes(raw)
    addresses = _addresses(message)
    if not message.get("from") or not addresses:
        raise ValidationFailed({"message": "That is not an email message (no From address)."})
    client = await match_client(session, [email for _, email in addresses])
    message_id = str(message.get("message-id") or "").strip().strip("<>")
    permalink = f"mid:{message_id}"[:500] if message_id else None
    if permalink:
        logged = await session.scalar(
            select(ClientCommunication).where(
                ClientCommunication.client_id == client.id,
                ClientCommunication.source == "email",
                ClientCommunication.permalink == permalink,
            )
        )
        if logged is not None:
            return logged, False
    try:
        sent = parsedate_to_datetime(str(message["date"])) if message.get("date") else clock.now()
    except (TypeError, ValueError):
        sent = clock.now()
    files = [
        IncomingFile(name=part.get_filename() or "attachment", content=part.get_payload(decode=True) or b"")
        for part in message.iter_attachments()
    ]
    stored = await communications.save_attachments(storage, files)
    data = communications.parse_communication(
        {
            "communication_type": CommunicationType.EMAIL.value,
            "communication_date": sent,
            "participants": [{"name": name or None, "email": email} for name, email in addresses[:100]],
            "subject": (str(message.get("subject") or "") or "(no subject)")[:500],
            "notes": _body(message)[:20000] or None,
            "permalink": permalink,
        }
    )
    actor = await users.resolve(
        session, slack_user_id="email:ingest", admins=(), display_name="Email integration"
    )
    record = await communications.log(
        session, actor=actor, client_id=client.id, data=data, attachments=stored, source="email"
    )
    return record, True
