"""Reading a raw RFC 822 message into plain data, in a worker process, and judging its authenticity from
the receiving host's `Authentication-Results` (RFC 8601).

Parsing a message is CPU work on input chosen by a stranger (MIME trees, base64, HTML), so it never runs on
the event loop: `read()` hands the bytes to a small spawn-started process pool and waits at most `within`
seconds; a worker that overruns is killed with its pool. HTML becomes text through libxml2 (lxml), whose
parser is linear in its input and caps nesting depth, and only the first `HTML_MAX_CHARS` of it are read.
This module has no database or Slack imports."""

from __future__ import annotations

import asyncio
import atexit
import multiprocessing
import re
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from io import BytesIO
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

import authres
import lxml.html
from lxml import etree

WORKERS = 2
HTML_MAX_CHARS = 1_000_000  # the notes keep 20,000 characters: no need to read a megabyte more of markup
TEXT_MAX_CHARS = 20_000
AUTH_HEADER_MAX_CHARS = 4_096
_BLOCKS = frozenset(
    "address article aside blockquote br dd div dl dt figcaption figure footer form h1 h2 h3 h4 h5 h6 header"
    " hr li main nav ol p pre section table tbody td tfoot th thead tr ul".split()
)
_INVISIBLE = frozenset({"head", "script", "style", "template", "title", "noscript"})
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
# Unchanged header lines are written back as they came (no refolding), so a forwarded message keeps its bytes.
_AS_RECEIVED = policy.default.clone(refold_source="none")


@dataclass(frozen=True)
class Attachment:
    name: str
    path: str  # the decoded bytes, written by the worker next to the message
    size: int
    forwarded: bool = False  # a message/rfc822 part: the forwarded message itself, as .eml

    def read(self) -> bytes:
        return Path(self.path).read_bytes()


@dataclass(frozen=True)
class ParsedEmail:
    senders: list[tuple[str, str]]  # (display name, address) from From:, as written
    recipients: list[tuple[str, str]]  # To: and Cc:
    subject: str
    message_id: str
    date: datetime | None  # None when the Date header is missing or unreadable
    body: str
    attachments: list[Attachment] = field(default_factory=list)
    auth_results: list[str] = field(default_factory=list)  # Authentication-Results values, topmost first


class ParseTimeout(Exception):
    """The message could not be read within the time allowed."""


class Unreadable(Exception):
    """Parsing the message raised (in the worker): the input, not the app, is at fault."""


def html_to_text(html: str) -> str:
    """Visible text of an HTML body: scripts, styles and head dropped, one line per block element."""
    html = html[:HTML_MAX_CHARS]
    if not html.strip():
        return ""
    parser = lxml.html.HTMLParser(
        encoding="utf-8", remove_comments=True, remove_pis=True, no_network=True, recover=True
    )
    try:
        root = lxml.html.document_fromstring(html.encode("utf-8", "replace"), parser=parser)
    except (etree.ParserError, ValueError):
        return ""
    for element in [e for e in root.iter() if isinstance(e.tag, str) and e.tag in _INVISIBLE]:
        element.drop_tree()
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag in _BLOCKS:
            element.tail = "\n" + (element.tail or "")
    return str(root.text_content())


def clean_text(text: str) -> str:
    """No control characters (PostgreSQL text refuses NUL), blanks collapsed, at most one blank line."""
    text = _CONTROL.sub("", text.replace("\r\n", "\n"))
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        text = part.get_content()
    except (LookupError, ValueError, AssertionError):  # unknown charset or a broken encoding
        text = (part.get_payload(decode=True) or b"").decode("utf-8", "replace")
    if not isinstance(text, str):
        return ""
    if part.get_content_type() == "text/html":
        text = html_to_text(text)
    return clean_text(text[:HTML_MAX_CHARS])[:TEXT_MAX_CHARS]


def _message_bytes(message: Any) -> bytes:
    out = BytesIO()
    BytesGenerator(out, mangle_from_=False, policy=_AS_RECEIVED).flatten(message)
    return out.getvalue()


def _attachments(message: EmailMessage, workdir: Path) -> list[Attachment]:
    found = []

    def keep(name: str, content: bytes, forwarded: bool = False) -> None:
        path = workdir / f"attachment-{len(found)}"
        path.write_bytes(content)
        found.append(Attachment(name=name, path=str(path), size=len(content), forwarded=forwarded))

    for part in message.iter_attachments():
        name = str(part.get_filename() or "")
        if part.get_content_type() in ("message/rfc822", "message/global"):
            inner = part.get_payload(0) if part.is_multipart() else None
            # (a body the parser could not read as a message is kept as it came)
            content = _message_bytes(inner) if inner is not None else part.get_payload(decode=True) or b""
            if not name:
                subject = clean_text(str(inner.get("subject") or "")) if inner is not None else ""
                name = re.sub(r"[^\w .,()-]+", "_", subject)[:100].strip(" .") or "forwarded message"
            if not name.lower().endswith(".eml"):
                name += ".eml"
            keep(name, content, forwarded=True)
        elif part.is_multipart():  # some other container sent as an attachment: keep it whole
            keep(name or "attachment", _message_bytes(part))
        else:
            keep(name or "attachment", part.get_payload(decode=True) or b"")
    return found


def _pairs(message: EmailMessage, *names: str) -> list[tuple[str, str]]:
    values = []
    for name in names:
        for value in message.get_all(name, []):
            try:
                values.append(str(value))
            except (TypeError, ValueError):
                continue
    return [(n, a) for n, a in getaddresses(values) if a]


def _date(message: EmailMessage) -> datetime | None:
    raw = message.get("date")
    if raw is None:
        return None
    try:
        return parsedate_to_datetime(str(raw))
    except (TypeError, ValueError, OverflowError, IndexError):
        return None


def parse_message(path: str) -> ParsedEmail:
    """Everything the ingest needs from the raw message in the file at `path` (runs in a worker process).
    Attachments are written beside it: tens of megabytes never cross between processes through pickle,
    whose copies hold the app process's GIL, so its event loop would wait."""
    with open(path, "rb") as handle:
        message = BytesParser(policy=policy.default).parse(handle)
    assert isinstance(message, EmailMessage)
    auth = [str(v)[:AUTH_HEADER_MAX_CHARS] for v in message.get_all("authentication-results", [])]
    return ParsedEmail(
        senders=_pairs(message, "from"),
        recipients=_pairs(message, "to", "cc"),
        subject=clean_text(str(message.get("subject") or ""))[:500],
        message_id=str(message.get("message-id") or "").strip().strip("<>"),
        date=_date(message),
        body=_body(message),
        attachments=_attachments(message, Path(path).parent),
        auth_results=auth,
    )


class _Restarted(Exception):
    """The pool was replaced (another message overran) while this message was in it."""


class _Workers:
    """The process pool and the messages in it, so that killing it fails those fast instead of leaving
    them waiting for their own timeout."""

    def __init__(self) -> None:
        # spawn, not fork: the app process has an event loop, threads and database connections.
        self.pool: Pool = multiprocessing.get_context("spawn").Pool(WORKERS, maxtasksperchild=100)
        self.waiting: set[Callable[[BaseException], None]] = set()


_workers: _Workers | None = None
_workers_lock = threading.Lock()
# At most WORKERS messages are handed to the pool at once, so a message's time limit counts its own
# parsing, not its wait behind others. One semaphore per event loop (tests run one loop per test).
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def start_workers() -> None:
    """Start the worker processes now (blocking: call it from a thread), not on the first message."""
    global _workers
    with _workers_lock:
        if _workers is None:
            _workers = _Workers()


def stop_workers() -> None:
    """Stop the worker processes (at exit; a later message starts them again)."""
    if _workers is not None:
        _stop_workers(_workers)


def _stop_workers(workers: _Workers) -> None:
    global _workers
    with _workers_lock:
        if _workers is workers:
            _workers = None
        waiting, workers.waiting = list(workers.waiting), set()
    for fail in waiting:
        fail(_Restarted())
    workers.pool.terminate()
    workers.pool.join()


atexit.register(stop_workers)


async def _run(workers: _Workers, path: str, within: float) -> ParsedEmail:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[ParsedEmail] = loop.create_future()

    def settle(value: Any, error: BaseException | None = None) -> None:
        if done.done():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(value)

    def fail(error: BaseException) -> None:
        loop.call_soon_threadsafe(settle, None, error)

    workers.waiting.add(fail)
    try:
        workers.pool.apply_async(
            parse_message,
            (path,),
            callback=lambda value: loop.call_soon_threadsafe(settle, value),
            error_callback=lambda error: fail(Unreadable(repr(error))),
        )
        return await asyncio.wait_for(done, within)
    except TimeoutError:
        await asyncio.to_thread(_stop_workers, workers)
        raise ParseTimeout(f"The message could not be read within {within:g} s.") from None
    finally:
        workers.waiting.discard(fail)


async def read(path: str, *, within: float) -> ParsedEmail:
    """`parse_message(path)` in a worker process: ParseTimeout (and the workers replaced) after `within`
    seconds, Unreadable when parsing raised."""
    loop = asyncio.get_running_loop()
    slots = _slots.setdefault(loop, asyncio.Semaphore(WORKERS))
    async with slots:
        for attempt in range(3):
            if _workers is None:
                await asyncio.to_thread(start_workers)
            workers = _workers
            if workers is None:
                continue
            try:
                return await _run(workers, path, within)
            except _Restarted:
                if attempt == 2:
                    break
        raise ParseTimeout("The mail workers were restarted while reading this message; send it again.")


# --- authenticity -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Authenticity:
    verified: bool
    reason: str


def _domain(address: str) -> str:
    return address.rpartition("@")[2].strip().strip(".").lower()


def _aligned(domain: str, sender_domain: str) -> bool:
    """Strict alignment (RFC 7489 3.1): the very domain of the From address. (Relaxed alignment needs the
    Public Suffix List; the receiving host's DMARC verdict, preferred above, already applies it.)"""
    return bool(sender_domain) and domain.strip().strip(".").lower() == sender_domain


def authenticate(auth_results: list[str], *, authserv_ids: frozenset[str], sender: str) -> Authenticity:
    """Did the receiving host vouch for the From address? Only Authentication-Results headers naming one of
    `authserv_ids` count (anyone can write such a header; RFC 8601 section 5 has the border MTA remove
    forged ones), and for each method the topmost one, which the receiving host added last. Verified when
    DMARC passed for the From domain, or, with no DMARC verdict, when a DKIM signature (header.d) or the
    SPF-checked envelope sender (smtp.mailfrom) of the From domain itself passed."""
    sender_domain = _domain(sender)
    if not authserv_ids:
        return Authenticity(False, "no receiving host is trusted yet (set CLIENTBOT_EMAIL_AUTHSERV_ID)")
    verdicts: dict[str, list[tuple[str, dict[str, str]]]] = {}
    trusted = 0
    for value in auth_results:
        try:
            header = authres.AuthenticationResultsHeader.parse_value(value)
        except (authres.AuthResError, ValueError, IndexError, AttributeError):
            continue
        if str(header.authserv_id or "").lower() not in authserv_ids:
            continue
        trusted += 1
        above = set(verdicts)  # methods a higher (later-added) header of the receiving host already judged
        for result in header.results:
            method = str(result.method or "").lower()
            if method not in above:
                props = {f"{p.type}.{p.name}".lower(): str(p.value or "") for p in result.properties}
                verdicts.setdefault(method, []).append((str(result.result or "").lower(), props))
    if not trusted:
        return Authenticity(False, "no Authentication-Results from the receiving host")
    found = {m: v[0] for m, v in verdicts.items() if v}
    summary = ", ".join(f"{m}={r}" for m, (r, _) in found.items() if m in ("dmarc", "dkim", "spf")) or "none"
    if "dmarc" in found:
        verdict, props = found["dmarc"]
        header_from = props.get("header.from", sender_domain)
        ok = verdict == "pass" and _aligned(header_from, sender_domain)
        return Authenticity(ok, summary)
    dkim_ok = any(
        verdict == "pass"
        and _aligned(props.get("header.d") or _domain(props.get("header.i", "")), sender_domain)
        for verdict, props in verdicts.get("dkim", [])
    )
    spf_verdict, spf_props = found.get("spf", ("none", {}))
    spf_ok = spf_verdict == "pass" and _aligned(_domain(spf_props.get("smtp.mailfrom", "")), sender_domain)
    return Authenticity(dkim_ok or spf_ok, summary)
