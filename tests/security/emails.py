"""Building and posting raw emails to `POST /integrations/email` for the email security tests."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterable
from email.message import EmailMessage
from typing import Any

import aiohttp
from sqlalchemy import select

from bot.models import Client, ClientCommunication, Role
from tests import factories
from tests.conftest import MANAGER

SECRET = "s3cret"
AUTHSERV = "mx.agency.example.com"  # the agency's receiving host, as in its Authentication-Results
CLIENT_DOMAIN = "techcorp.example.com"  # the factory client's contact is john@techcorp.example.com


def passed(domain: str = CLIENT_DOMAIN, authserv: str = AUTHSERV) -> str:
    """An Authentication-Results value as Postfix + OpenDKIM/OpenDMARC write it for genuine mail."""
    return (
        f"{authserv}; dkim=pass (2048-bit key) header.d={domain} header.i=@{domain};"
        f" spf=pass smtp.mailfrom=bounces@{domain}; dmarc=pass (p=reject dis=none) header.from={domain}"
    )


def failed(domain: str = CLIENT_DOMAIN, authserv: str = AUTHSERV) -> str:
    return (
        f"{authserv}; dkim=fail (signature verification failed) header.d={domain};"
        f" spf=fail smtp.mailfrom=ceo@{domain}; dmarc=fail (p=reject dis=none) header.from={domain}"
    )


def email(
    *,
    sender: str = f"John Doe <john@{CLIENT_DOMAIN}>",
    to: str = "Recruiter <recruiter@agency.example.com>",
    subject: str = "Signed offer",
    text: str | None = "Please find the signed offer attached.",
    html: str | None = None,
    attachments: Iterable[tuple[str, bytes, str]] = (),
    auth: Iterable[str] | None = None,
    headers: dict[str, str] | None = None,
    message_id: str | None = None,
) -> EmailMessage:
    """A message as the receiving host hands it on: its Authentication-Results on top (genuine by default)."""
    message = EmailMessage()
    for value in [passed()] if auth is None else auth:
        message["Authentication-Results"] = value
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Message-ID"] = message_id or f"<{hashlib.sha1(subject.encode()).hexdigest()}@techcorp>"
    message["Date"] = "Mon, 02 Mar 2026 10:00:00 +0000"
    for name, value in (headers or {}).items():
        message[name] = value
    if text is not None:
        message.set_content(text)
    if html is not None:
        if text is None:
            message.set_content(html, subtype="html")
        else:
            message.add_alternative(html, subtype="html")
    for name, content, mime in attachments:
        maintype, subtype = mime.split("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
    return message


async def post(
    http: aiohttp.ClientSession, app_url: str, raw: bytes | AsyncIterator[bytes], secret: str = SECRET
) -> tuple[int, dict[str, Any]]:
    async with http.post(
        f"{app_url}/integrations/email", data=raw, headers={"X-Clientbot-Secret": secret}
    ) as response:
        return response.status, await response.json()


async def send(app_url: str, message: EmailMessage) -> tuple[int, dict[str, Any]]:
    """One message posted to /integrations/email on a connection of its own."""
    async with aiohttp.ClientSession() as http:
        return await post(http, app_url, message.as_bytes())


async def techcorp(rt) -> Client:
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        return await factories.client(session, manager)


async def stored(rt) -> list[ClientCommunication]:
    async with rt.db.session() as session:
        return list(await session.scalars(select(ClientCommunication)))


def configure(settings, **changes: Any):
    """Settings with email logging on and the agency's receiving host trusted (a copy, not validated, so
    the same test runs against a build without these settings)."""
    return settings.model_copy(
        update={"email_secret": SECRET, "email_authserv_id": frozenset({AUTHSERV})} | changes
    )
