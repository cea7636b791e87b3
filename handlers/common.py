"""What every listener needs: the acting user and a session, Slack files, and turning errors into replies."""

from __future__ import annotations

import asyncio
import errno
import logging
import re
import shlex
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from html import unescape
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import Ambiguous, DomainError, PermissionDenied, Redelivery, UnknownClient, ValidationFailed
from bot.filestore import Storage
from bot.models import User
from bot.response_url import post_response
from bot.runtime import Runtime
from bot.services import users
from bot.storage import claimed_type_problem, looks_like_html, web_page_instead
from views.clients import ambiguous_message, unknown_client_message
from views.common import error_message, loading_view, notice_view
from views.users import access_refused_message, departed_manager_message, permission_message

log = logging.getLogger("clientbot.handlers")
DEFAULT_FILE_HOSTS = frozenset({"https://files.slack.com"})
MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$|^([UW][A-Z0-9]{2,})$")


def runtime(context: AsyncBoltContext) -> Runtime:
    return context["rt"]


def profile_of(user: dict[str, Any]) -> users.SlackProfile:
    """A Slack user object (users.info, or the `user` of user_change / team_join events) as clientbot
    keeps it. `tz` may be missing; `profile.email` is there only with the users:read.email scope."""
    profile = user.get("profile") or {}
    name = (
        profile.get("display_name") or profile.get("real_name") or user.get("real_name") or user.get("name")
    )
    return users.SlackProfile(
        slack_user_id=user["id"],
        display_name=name,
        tz=user.get("tz"),
        email=profile.get("email"),
        is_guest=bool(user.get("is_restricted") or user.get("is_ultra_restricted")),
        is_deleted=bool(user.get("deleted")),
        is_bot=bool(user.get("is_bot")) or user["id"] == "USLACKBOT",
        team_id=user.get("team_id"),
        enterprise_id=(user.get("enterprise_user") or {}).get("enterprise_id"),
    )


async def slack_profile(client: AsyncWebClient, user_id: str) -> users.SlackProfile | None:
    """What Slack says about a user (`users.info`, after the client's rate-limit and connection retries);
    None when Slack can't tell us (ratelimited, user_not_found, user_not_visible, network)."""
    try:
        return profile_of((await client.users_info(user=user_id))["user"])
    except SlackApiError as error:
        log.warning("users.info %s: %s", user_id, error.response.get("error"))
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        log.warning("users.info %s: %r", user_id, error)
    return None


async def installation(context: AsyncBoltContext, client: AsyncWebClient) -> users.Organisation:
    """The organisation the bot token belongs to (`auth.test`), asked once per running app (kept on its
    Runtime, so two apps in one process never share an answer)."""
    rt = runtime(context)
    if rt.slack_installation is None:
        try:
            auth = await client.auth_test()
        except (SlackApiError, aiohttp.ClientError, TimeoutError, OSError) as error:
            log.warning("auth.test failed: %r", error)
            raise users.AccessRefused("unknown") from error
        rt.slack_installation = users.Organisation(auth.get("team_id"), auth.get("enterprise_id"))
    return rt.slack_installation


async def note_actor_origin(body: dict[str, Any], context: AsyncBoltContext, next: Any) -> None:
    """Remember which team and enterprise the payload says the acting user belongs to (interactions:
    `user.team_id`, `team.id`, `enterprise.id`; commands: `team_id`, `enterprise_id`), for `acting`.
    Reads the body only: no I/O before the ack."""
    user, team, enterprise = body.get("user"), body.get("team"), body.get("enterprise")
    teams = {
        user.get("team_id") if isinstance(user, dict) else None,
        team.get("id") if isinstance(team, dict) else None,
        body.get("team_id") if body.get("type") != "event_callback" else None,
    }
    context["actor_teams"] = sorted(t for t in teams if t)
    context["actor_enterprise"] = (
        (enterprise.get("id") if isinstance(enterprise, dict) else enterprise)
        or body.get("enterprise_id")
        or None
    )
    await next()


async def tell_admins_of_departure(client: AsyncWebClient, departure: users.Departure | None) -> None:
    """DM each HR Admin the clients a deactivated account manager leaves behind, to reassign them."""
    if departure is None or not departure.clients:
        return
    payload = departed_manager_message(departure)
    for admin in departure.admins:
        try:
            channel = (await client.conversations_open(users=admin))["channel"]["id"]
            await client.chat_postMessage(channel=channel, **payload)
        except SlackApiError as error:
            log.warning(
                "could not tell %s about %s: %s", admin, departure.slack_user_id, error.response["error"]
            )


async def check_origin(context: AsyncBoltContext, client: AsyncWebClient) -> users.Organisation:
    """The installation's organisation, once the payload's team and enterprise (note_actor_origin) are
    found to be its own; AccessRefused otherwise. Asks Slack nothing but a cached auth.test, so it runs
    before anything is shown or read."""
    home = await installation(context, client)
    users.check_origin(
        home, team_ids=context.get("actor_teams") or (), enterprise_id=context.get("actor_enterprise")
    )
    return home


@asynccontextmanager
async def acting(
    context: AsyncBoltContext, client: AsyncWebClient, *, read_only: bool = False
) -> AsyncIterator[tuple[AsyncSession, User]]:
    """One unit of work for a listener, with the acting user resolved (created on first sight).

    Fails closed: a user of another organisation (by the payload, then by Slack's profile), a bot, a
    deactivated user, or one Slack can't tell us about (users.info failing) gets AccessRefused before any
    client data is read, and no user row is made for them. The profile is read again when older than a day.
    `read_only`: a listener that only reads gets `Database.reading()`'s session (no BEGIN/COMMIT).

    Listeners open it themselves rather than a middleware doing it: Bolt acks and returns from the
    middleware chain while the listener goes on working, so a middleware-owned session would close early."""
    rt = runtime(context)
    home = await check_origin(context, client)
    departure = None
    held = context.pop(DRIVER_KEY, None)  # the delivery's connection: reads go on it
    if held is not None and not read_only:
        held.release()  # a unit of work runs on a connection of SQLAlchemy's
    async with rt.db.reading(held) if read_only else rt.db.session() as session:
        actor = await _sender(context, session)
        if users.stale(actor):
            profile = await slack_profile(client, context.user_id)
            if profile is None:
                raise users.AccessRefused("unknown")
            actor, departure = await users.learn(
                session, profile=profile, admins=rt.settings.admins, home=home
            )
            await session.commit()  # what Slack said is kept even when the user is refused below
            if actor is None:  # not stored: someone clientbot doesn't serve
                raise users.AccessRefused(users.refusal(profile, home) or "unknown")
        else:
            users.promote_configured_admin(actor, rt.settings.admins)
        if departure is not None:
            await tell_admins_of_departure(client, departure)
        yield session, users.admit(actor, home)


# The sender's stored user as the request's delivery record read it (bot/app.py `_first_delivery`):
# (Slack user id, attributes, or None when not stored).
SENDER_KEY = "cb_sender"
# The connection the delivery record was read on (PostgreSQL), still checked out for the listener's reading
# session (`Database.reading`); bot/app.py `ReleaseHeld` returns it if the listener never takes it.
DRIVER_KEY = "cb_driver"


async def _sender(context: AsyncBoltContext, session: AsyncSession) -> User | None:
    """The sender's stored user: as the delivery's statement read it (once a request: a second `acting()`
    reads again, after what the first may have changed), or read now."""
    read = context.pop(SENDER_KEY, None)
    if read is not None and read[0] == context.user_id:
        return users.adopt(session, read[1])
    return await users.by_slack_id(session, context.user_id)


def split_args(text: str) -> list[str]:
    """Slash-command words, quotes respected; Slack's HTML escaping undone. A lone quote is part of a
    word (`/client show O'Reilly`): then the text is split on whitespace only."""
    text = unescape(text or "")
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def mentioned_user(token: str) -> str | None:
    """`<@U123|name>` or a bare `U123` -> `U123`."""
    match = MENTION.match(token.strip())
    return (match.group(1) or match.group(2)) if match else None


def domain_error_reply(error: DomainError, command: tuple[str, str] | None = None) -> dict[str, Any]:
    """What to tell the user about `error`; `command` (sub-command, arguments) is what they typed, so a
    name matching several clients offers to run it again with the one they pick."""
    if isinstance(error, users.AccessRefused):
        return access_refused_message(error.reason)
    if isinstance(error, Ambiguous) and error.query is not None:
        return ambiguous_message(error.query, error.matches, command=command)
    if isinstance(error, UnknownClient):
        return unknown_client_message(str(error), error.query, error.suggestions, command=command)
    if isinstance(error, ValidationFailed) and error.fields:
        details = " ".join(v for v in error.fields.values())
        return error_message(details if len(error.fields) == 1 else f"{error} {details}")
    return error_message(str(error))


async def explain(
    context: AsyncBoltContext, error: DomainError, command: tuple[str, str] | None = None
) -> dict[str, Any]:
    """`domain_error_reply`, and a refusal also names who holds the role needed, to ask."""
    if isinstance(error, PermissionDenied) and error.needed is not None:
        rt = runtime(context)
        async with rt.db.session() as session:
            people = await users.who_can(session, error.needed, admins=rt.settings.admins)
        return permission_message(str(error), people)
    return domain_error_reply(error, command)


async def reply(respond: Any, payload: dict[str, Any], *, replace: bool = False) -> None:
    """Ephemeral reply through the response_url (`respond`)."""
    await respond(response_type="ephemeral", replace_original=replace, **payload)


class _Progress:
    """Steps of slow work shown to the user, in order. `step` posts in the background, so the work goes on
    while Slack answers; `show` (the outcome) waits for every earlier step, then posts and waits for it."""

    _pending: asyncio.Task[None] | None = None

    async def _post(self, payload: dict[str, Any]) -> None:
        raise NotImplementedError

    def step(self, payload: dict[str, Any]) -> None:
        """Post a progress step without waiting for it; it goes out after the earlier ones. A step that
        can't be posted is logged: the work and the later posts go on."""
        previous = self._pending

        async def post() -> None:
            if previous is not None:
                await previous
            try:
                await self._post(payload)
            except Exception:
                log.warning("a progress step could not be posted", exc_info=True)

        self._pending = asyncio.create_task(post())

    async def show(self, payload: dict[str, Any]) -> None:
        """Post `payload` once every earlier step is out, and wait for it."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            await pending
        await self._post(payload)


class CommandProgress(_Progress):
    """Progress of a slash command's slow work through its response_url: the first step is posted, each
    later one replaces it (a command has no message of its own to overwrite). Keep it to 5 posts in all:
    Slack accepts no more on one response_url."""

    def __init__(self, respond: Any) -> None:
        self.respond, self.posted = respond, False

    async def _post(self, payload: dict[str, Any]) -> None:
        await reply(self.respond, payload, replace=self.posted)
        self.posted = True


class DmProgress(_Progress):
    """Progress of a button's slow work: one message in the user's DM, posted once and then changed with
    chat.update. Never `replace_original` on the button's response_url, which would overwrite the message
    holding the button (the dashboard, the report) with "1/3…"."""

    def __init__(self, client: AsyncWebClient, user_id: str) -> None:
        self.client, self.user_id = client, user_id
        self.channel: str | None = None
        self.ts: str | None = None

    async def _post(self, payload: dict[str, Any]) -> None:
        if self.ts is None:
            posted = await self.client.chat_postMessage(channel=self.user_id, **payload)
            self.channel, self.ts = posted["channel"], posted["ts"]
        else:
            await self.client.chat_update(channel=self.channel, ts=self.ts, **payload)


async def notify_user(
    client: AsyncWebClient, user_id: str, payload: dict[str, Any], response_url: str | None = None
) -> None:
    """Tell one user: ephemerally where they ran the command when we still can, else by DM."""
    if response_url:
        try:
            message = {"response_type": "ephemeral", "replace_original": False, **payload}
            response = await post_response(client.session, response_url, message)
            if response.status_code == 200:
                return
        except aiohttp.ClientError:
            log.warning("response_url failed; falling back to a DM")
    await client.chat_postMessage(channel=user_id, **payload)


async def internal_channel(client: AsyncWebClient, channel: str) -> bool:
    """Whether the channel is this workspace's own (not Slack Connect): only then may private figures such
    as revenue appear in it (the digest) or the client's activity (a shared dashboard). Unknown counts as
    shared."""
    try:
        info = (await client.conversations_info(channel=channel))["channel"]
    except SlackApiError as error:
        log.warning(
            "conversations.info %s: %s; keeping private figures out", channel, error.response["error"]
        )
        return False
    return not (info.get("is_ext_shared") or info.get("is_shared") or info.get("is_org_shared"))


def from_modal(body: dict[str, Any]) -> bool:
    """Whether an interaction came from inside a modal (rather than a message or the Home tab)."""
    in_view = body.get("container", {}).get("type") == "view"  # a Home tab click has a view container too
    return in_view and (body.get("view") or {}).get("type", "modal") == "modal"


async def show_modal(client: AsyncWebClient, body: dict[str, Any], view: dict[str, Any]) -> None:
    """Open `view` from a click: pushed over the current modal when the click came from one."""
    if from_modal(body):
        await client.views_push(trigger_id=body["trigger_id"], view=view)
    else:
        await client.views_open(trigger_id=body["trigger_id"], view=view)


async def update_view(
    client: AsyncWebClient,
    view: dict[str, Any],
    *,
    view_id: str | None = None,
    external_id: str | None = None,
    view_hash: str | None = None,
) -> bool:
    """`views.update`; False when the view is gone (the user closed it: `not_found`) or was changed
    meanwhile (`hash_conflict`), so the caller can tell the user some other way."""
    try:
        if view_id:
            await client.views_update(view_id=view_id, hash=view_hash, view=view)
        else:
            await client.views_update(external_id=external_id, hash=view_hash, view=view)
    except SlackApiError as error:
        if error.response.get("error") in ("not_found", "hash_conflict"):
            return False
        raise
    return True


# Slack puts up a view pushed by an ack (`response_action: push`) once it has read the ack's HTTP response; a
# views.update by that view's external_id which overtakes it is `not_found`. Seconds to wait between tries.
PUSHED_VIEW_RETRIES = (0.1, 0.3, 0.6, 1.2)


async def fill_pushed_view(client: AsyncWebClient, view: dict[str, Any], *, external_id: str) -> bool:
    """`update_view` of the view this request's ack pushed; False once it is still not there after the
    retries (the user went back or closed it)."""
    for delay in PUSHED_VIEW_RETRIES:
        if await update_view(client, view, external_id=external_id):
            return True
        await asyncio.sleep(delay)
    return await update_view(client, view, external_id=external_id)


async def open_modal_first(
    client: AsyncWebClient,
    trigger_id: str,
    *,
    context: AsyncBoltContext,
    title: str,
    build: Callable[[], Awaitable[dict[str, Any]]],
    push: bool = False,
) -> str:
    """Open a "Loading…" modal on the trigger at once (a trigger id expires 3 s after the click, and
    users.info or the database may take longer), then build the real view and put it in its place.

    A DomainError (no permission, unknown client, Slack can't tell who the user is) is shown in the modal
    and raised on, so the caller still answers the way it always does. A user of another organisation is
    refused before anything opens."""
    await check_origin(context, client)
    opener = client.views_push if push else client.views_open
    opened = await opener(trigger_id=trigger_id, view=loading_view(title))
    view_id = opened["view"]["id"]
    try:
        view = await build()
    except DomainError as error:
        await update_view(client, notice_view(title, str(error)), view_id=view_id)
        raise
    except Exception:
        text = "This couldn't be loaded. Nothing was changed; clientbot sent you the details."
        await update_view(client, notice_view(title, text), view_id=view_id)
        raise
    await update_view(client, view, view_id=view_id)
    return view_id


async def show_modal_first(
    client: AsyncWebClient,
    body: dict[str, Any],
    *,
    context: AsyncBoltContext,
    title: str,
    build: Callable[[], Awaitable[dict[str, Any]]],
) -> str:
    """`open_modal_first` from a click: pushed over the current modal when the click came from one."""
    return await open_modal_first(
        client, body["trigger_id"], context=context, title=title, build=build, push=from_modal(body)
    )


async def open_dm(client: AsyncWebClient, user_id: str) -> str:
    """The id of the user's DM with the app (conversations.open)."""
    return (await client.conversations_open(users=user_id))["channel"]["id"]


async def send_files_to_user(
    client: AsyncWebClient,
    user_id: str,
    *,
    files: list[tuple[str, bytes]],
    comment: str,
    dm: Awaitable[str] | None = None,
) -> None:
    """Files go out privately: uploaded (files upload v2, one message) into the requester's DM, never as a
    public link. `dm`: the DM being opened already (`open_dm`, started while the file was built)."""
    channel = await (dm or open_dm(client, user_id))
    await client.files_upload_v2(
        channel=channel,
        file_uploads=[{"content": content, "filename": name, "title": name} for name, content in files],
        initial_comment=comment,
    )


async def send_stored_files_to_user(
    client: AsyncWebClient, user_id: str, storage: Storage, *, files: list[dict[str, Any]], comment: str
) -> None:
    """Stored attachments (metadata with `name`, `size`, `storage_key`) into the requester's DM, streamed
    from the store to Slack's upload URL chunk by chunk (files.getUploadURLExternal, then one
    files.completeUploadExternal for the message): a file is never held whole in memory."""
    channel = (await client.conversations_open(users=user_id))["channel"]["id"]
    uploaded = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as http:
        for meta in files:
            ticket = await client.files_getUploadURLExternal(filename=meta["name"], length=meta["size"])
            headers = {"Content-Length": str(meta["size"]), "Content-Type": "application/octet-stream"}
            stream = storage.stream(meta["storage_key"])
            async with http.post(ticket["upload_url"], data=stream, headers=headers) as response:
                if response.status != 200:
                    raise SlackRequestError(f"upload of {meta['name']} failed ({response.status})")
            uploaded.append({"id": ticket["file_id"], "title": meta["name"]})
    await client.files_completeUploadExternal(files=uploaded, channel_id=channel, initial_comment=comment)


async def send_file_to_user(
    client: AsyncWebClient,
    user_id: str,
    *,
    content: bytes,
    filename: str,
    comment: str,
    dm: Awaitable[str] | None = None,
) -> None:
    await send_files_to_user(client, user_id, files=[(filename, content)], comment=comment, dm=dm)


class FileTooLarge(Exception):
    pass


class SlackFileRefused(Exception):
    """A Slack file that is not read: its url_private is not on Slack's file host, Slack answered with a
    page or an error instead of the file, or the bytes are not what the file claims to be."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


async def fetch_slack_file(
    client: AsyncWebClient,
    file_id: str,
    *,
    max_bytes: int,
    seconds: float = 10.0,
    trusted_hosts: Collection[str] = DEFAULT_FILE_HOSTS,
    check_claim: bool = True,
) -> tuple[dict[str, Any], bytes]:
    """`files.info` then `url_private` with the bot token; never reads more than `max_bytes` + 1 bytes.

    The token goes only to `trusted_hosts` (Slack's file host; settings.slack_file_hosts), redirects are
    not followed, and what comes back must be the file: an HTML page (Slack answers a token without
    access with its sign-in page and HTTP 200) or, with `check_claim`, bytes of another type than the file
    claims are refused (SlackFileRefused). Callers that judge the bytes themselves (logos must be PNG or
    JPEG) pass check_claim=False and are refused an HTML page all the same."""
    async with asyncio.timeout(seconds):
        info = (await client.files_info(file=file_id))["file"]
        name = str(info.get("name") or "the file")
        if int(info.get("size") or 0) > max_bytes:
            raise FileTooLarge(info.get("name"))
        url = str(info.get("url_private") or "")
        if _origin(url) not in {h.rstrip("/").lower() for h in trusted_hosts}:
            log.warning("refused url_private of %s outside Slack's file host: %s", file_id, _origin(url))
            raise SlackFileRefused(
                f"{name} is not stored on Slack's file host, so clientbot did not fetch it."
            )
        headers = {"Authorization": f"Bearer {client.token}"}
        async with (
            aiohttp.ClientSession() as http,
            http.get(url, headers=headers, allow_redirects=False) as resp,
        ):
            if resp.status != 200:
                raise SlackFileRefused(
                    f"Slack didn't hand over {name} (HTTP {resp.status}); it may have been deleted."
                )
            # The whole body up to max_bytes + 1: `read(n)` answers with whatever is buffered (~128 KB).
            chunks, size = [], 0
            async for chunk in resp.content.iter_chunked(1 << 16):
                chunks.append(chunk)
                size += len(chunk)
                if size > max_bytes:
                    break
            content = b"".join(chunks)
            served_html = resp.content_type == "text/html"
    if len(content) > max_bytes:
        raise FileTooLarge(info.get("name"))
    claimed = str(info.get("mimetype") or "")
    if served_html and not claimed.startswith("text/html"):
        raise SlackFileRefused(web_page_instead(name))  # a page, whatever its bytes look like
    if check_claim:
        problem = claimed_type_problem(content, claimed_mime=claimed, name=name)
        if problem:
            raise SlackFileRefused(problem)
    elif looks_like_html(content) and not claimed.startswith("text/html"):
        raise SlackFileRefused(web_page_instead(name))
    return info, content


def _database_down(error: BaseException) -> bool:
    """A lost or refused database connection (any driver), as opposed to a bug."""
    return (
        isinstance(error, OperationalError | InterfaceError | ConnectionError)
        or (isinstance(error, DBAPIError) and error.connection_invalidated)
        or (isinstance(error, OSError) and error.errno in (errno.ECONNREFUSED, errno.ECONNRESET))
    )


def unexpected_error_reply(error: Exception, logger: logging.Logger) -> dict[str, Any]:
    """An error the user can't act on, logged: the database being down, or a bug (with a reference id)."""
    if _database_down(error):
        logger.error("database unreachable: %s", error)
        return error_message(
            "The client database can't be reached right now, so nothing was saved. "
            "Please try again in a minute."
        )
    ref = uuid.uuid4().hex[:8]
    logger.exception("unhandled error ref=%s", ref, exc_info=error)
    return error_message(f"Something went wrong on our side (ref `{ref}`). Nothing was changed.")


async def on_error(
    error: Exception,
    body: dict[str, Any],
    context: AsyncBoltContext,
    logger: logging.Logger,
    client: AsyncWebClient,
) -> None:
    """The one global error handler: known errors become friendly text, others get a reference id."""
    if isinstance(error, Redelivery):
        return  # acked again, nothing else: the first delivery is (or was) being answered
    payload = None if isinstance(error, DomainError) else unexpected_error_reply(error, logger)
    user_id = context.user_id
    # Bolt sets authorize_result only after the request passed signature verification and authorization:
    # an error raised before that carries an unverified body, whose response_url and user_id are anyone's.
    if not user_id or context.authorize_result is None:
        return
    try:
        if isinstance(error, DomainError):
            payload = await explain(context, error)
        await notify_user(client, user_id, payload, body.get("response_url"))
    except Exception:  # the error report itself must never raise
        logger.exception("could not report an error to %s", user_id)


def register(app: AsyncApp) -> None:
    app.use(note_actor_origin)
    app.error(on_error)
