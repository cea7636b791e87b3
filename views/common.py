"""Small Block Kit factories and the one place long user text is cut to Slack's limits."""

from __future__ import annotations

import functools
import json
import locale
import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Self

import phonenumbers
from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency
from pydantic import BaseModel

SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
PLAIN_LABEL_MAX = 75
HEADER_MAX = 150
OPTION_MAX = 75
MESSAGE_BLOCKS_MAX = 50
MODAL_BLOCKS_MAX = 100


def truncate(text: str | None, limit: int) -> str:
    text = text or ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape(text: str | None) -> str:
    """THE mrkdwn escaping helper: every piece of user text that reaches a message, a modal's mrkdwn, a
    notification `text` or a file's `initial_comment` goes through it. Slack reads `&`, `<` and `>` as
    control characters (https://api.slack.com/reference/surfaces/formatting#escaping), so escaped,
    `<!channel>` or `<http://evil|Click>` shows as the literal text instead of pinging or linking."""
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
_LINK_SCHEMES = ("http://", "https://", "mailto:")
_LINK_BREAKERS = re.compile(r"[<>|\s]")


def mention(slack_user_id: str | None) -> str:
    """`<@U123>` for a real Slack user id; anything else is shown as escaped text, never as markup."""
    text = slack_user_id or ""
    return f"<@{text}>" if SLACK_USER_ID.fullmatch(text) else escape(text)


def link(url: str | None, label: str | None = None) -> str:
    """`<url|label>` for an http(s)/mailto URL that cannot break out of the link; else the escaped text."""
    label = escape(label if label is not None else url)
    if not url or not url.lower().startswith(_LINK_SCHEMES) or _LINK_BREAKERS.search(url):
        return label
    return f"<{escape(url)}|{label}>"


def plain(text: str, limit: int = PLAIN_LABEL_MAX) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate(text, limit) or " ", "emoji": True}


def mrkdwn(text: str, limit: int = SECTION_TEXT_MAX) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": truncate(text, limit) or " "}


def section(text: str, *, block_id: str | None = None, accessory: dict | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": mrkdwn(text)}
    if block_id:
        block["block_id"] = block_id
    if accessory:
        block["accessory"] = accessory
    return block


def fields_section(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Up to 10 "*label*\\nvalue" fields."""
    return {
        "type": "section",
        "fields": [mrkdwn(f"*{label}*\n{value or '—'}", FIELD_TEXT_MAX) for label, value in pairs[:10]],
    }


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": plain(text, HEADER_MAX)}


def context(*texts: str) -> dict[str, Any]:
    return {"type": "context", "elements": [mrkdwn(t) for t in texts[:10]]}


def logo_context(slack_file_id: str | None, text: str) -> dict[str, Any]:
    """A context line led by the client's logo (a Slack-hosted file, never a public link) when it has one."""
    block = context(text)
    if slack_file_id:
        block["elements"].insert(
            0, {"type": "image", "slack_file": {"id": slack_file_id}, "alt_text": "logo"}
        )
    return block


def divider() -> dict[str, Any]:
    return {"type": "divider"}


def confirm_dialog(title: str, text: str, go: str, *, deny: str = "Cancel") -> dict[str, Any]:
    """Slack's own "are you sure?" dialog for something that can't be undone (its confirm button red).
    All texts are plain (a confirm object's `text` is plain_text)."""
    return {
        "title": plain(title, 100),
        "text": plain(text, 300),
        "confirm": plain(go, 30),
        "deny": plain(deny, 30),
        "style": "danger",
    }


def button(
    text: str,
    action_id: str,
    value: str | None = None,
    *,
    style: str | None = None,
    url: str | None = None,
    confirm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "button", "text": plain(text), "action_id": action_id}
    if value is not None:
        element["value"] = value[:2000]
    if style:
        element["style"] = style
    if url:
        element["url"] = url
    if confirm:
        element["confirm"] = confirm
    return element


def actions(*elements: dict[str, Any], block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "actions", "elements": list(elements[:25])}
    if block_id:
        block["block_id"] = block_id
    return block


def option(text: str, value: str) -> dict[str, Any]:
    return {"text": plain(text, OPTION_MAX), "value": value[:150]}


def text_input(
    block_id: str,
    label: str,
    *,
    initial: str | None = None,
    optional: bool = True,
    multiline: bool = False,
    placeholder: str | None = None,
    max_length: int | None = None,
    kind: str = "plain_text_input",
    hint: str | None = None,
) -> dict[str, Any]:
    """An input block whose element's action_id is always `value`."""
    element: dict[str, Any] = {"type": kind, "action_id": "value"}
    if kind == "plain_text_input":
        element["multiline"] = multiline
        if max_length:
            element["max_length"] = max_length
    if initial:
        element["initial_value"] = initial
    if placeholder:
        element["placeholder"] = plain(placeholder, 150)
    return input_block(block_id, label, element, optional=optional, hint=hint)


def input_block(
    block_id: str, label: str, element: dict[str, Any], *, optional: bool = True, hint: str | None = None
) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label, 2000),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = plain(hint, 2000)
    return block


def modal(
    *,
    callback_id: str,
    title: str,
    blocks: list[dict[str, Any]],
    submit: str | None = None,
    close: str = "Cancel",
    private_metadata: str = "",
    external_id: str = "",
) -> dict[str, Any]:
    """A modal view; `external_id` lets a later `views.update` find it without its view id."""
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title, 24),
        "close": plain(close, 24),
        "blocks": blocks[:MODAL_BLOCKS_MAX],
        "private_metadata": private_metadata,
    }
    if submit:
        view["submit"] = plain(submit, 24)
    if external_id:
        view["external_id"] = external_id
    return view


def message(text: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """A message payload: `text` is the notification fallback (plain user text, escaped here: Slack reads
    it as mrkdwn), blocks capped at 50."""
    return {"text": truncate(escape(text), 3000), "blocks": blocks[:MESSAGE_BLOCKS_MAX]}


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def mended(value: Any) -> Any:
    """`value` with each lone surrogate in its strings (half of a UTF-16 pair, which JSON can escape as
    "\\ud800" but no UTF-8 text holds: the database refuses it) replaced by U+FFFD; dicts and lists are
    mended in place."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        for key, item in value.items():
            value[key] = mended(item)
    elif isinstance(value, list):
        value[:] = [mended(item) for item in value]
    return value


def read_value(raw: str) -> Any:
    """JSON the app put in a button's value or a view's private_metadata, as a payload brings it back
    (forgeable: `mended`). ValueError when it is not JSON."""
    return mended(json.loads(raw))


def slack_date(moment: datetime, fmt: str = "{date_short}") -> str:
    """A date Slack renders in each reader's own time zone (the fallback: the moment's own day, ISO; isoformat
    rather than strftime, a quarter of the cost, 40 times per history page)."""
    return f"<!date^{int(moment.timestamp())}^{fmt}|{moment.date().isoformat()}>"


# -- how values read: names with codes, money, dates, phones ----------------------------------------------
def client_label(name: str | None, code: str | None) -> str:
    """ "Acme Ltd (CLT-2026-0001)": a client as people know it, with the code commands take. Escaped."""
    if not name:
        return escape(code)
    return f"{escape(name)} ({escape(code)})" if code else escape(name)


def _locale_name() -> str:
    """The machine's locale (e.g. en_GB), for currency and number conventions; en_US when unset/C."""
    found = locale.getlocale(locale.LC_MONETARY)[0] or locale.getlocale()[0]
    return found if found and found not in ("C", "POSIX") else "en_US"


def _babel_locale() -> Locale:
    return _parsed_locale(_locale_name())


@functools.cache
def _parsed_locale(name: str) -> Locale:
    """Babel's locale of that name (en_US when it knows none), parsed once: a card formats a dozen amounts."""
    try:
        return Locale.parse(name)
    except (ValueError, UnknownLocaleError):
        return Locale.parse("en_US")


def default_currency() -> str:
    """The currency of the machine's locale (CLIENTBOT_CURRENCY unset), USD when it names none."""
    territory = _babel_locale().territory
    if territory:
        from babel.numbers import get_territory_currencies

        found = get_territory_currencies(territory)
        if found:
            return found[0]
    return "USD"


_MONEY = {"currency": default_currency()}


def configure_money(currency: str | None) -> None:
    """Set once from the settings (CLIENTBOT_CURRENCY) when the runtime starts."""
    _MONEY["currency"] = currency or default_currency()


def current_currency() -> str:
    """The currency money is shown in (what a worker process is told, bot.render)."""
    return _MONEY["currency"]


def money(value: Decimal | float | int | None, *, currency: str | None = None) -> str:
    """ "€26,000.00", "£1,250.50": the amount in the configured currency, formatted for the locale."""
    if value is None:
        return "—"
    return _formatted(Decimal(value), currency or _MONEY["currency"], _babel_locale())


@functools.lru_cache(maxsize=4096)
def _formatted(value: Decimal, currency: str, locale: Locale) -> str:
    """Babel's formatting (~25 µs a sum here; a dashboard shows a dozen), kept for amounts shown again: the
    same client's revenue and fees on every view of its card."""
    return format_currency(value, currency, locale=locale)


_SPANS = ((14, 1, "day"), (60, 7, "week"), (365, 30, "month"), (None, 365, "year"))


def relative_day(day: date | datetime, today: date) -> str:
    """ "today", "yesterday", "3 days ago", "in 2 weeks", "2 months ago"."""
    days = (today - (day.date() if isinstance(day, datetime) else day)).days
    if days == 0:
        return "today"
    if abs(days) == 1:
        return "yesterday" if days > 0 else "tomorrow"
    size = abs(days)
    per, unit = next((p, u) for limit, p, u in _SPANS if limit is None or size < limit)
    amount = size // per
    span = f"{amount} {unit}{'s' if amount != 1 else ''}"
    return f"{span} ago" if days > 0 else f"in {span}"


def exact_day(day: date | datetime) -> str:
    """ "Mon 30 Nov 2026": the exact date shown next to a relative one (context lines have no hover)."""
    return f"{day:%a %d %b %Y}"


def when(day: date | datetime, today: date) -> str:
    """ "3 days ago (Fri 27 Nov 2026)"."""
    return f"{relative_day(day, today)} ({exact_day(day)})"


def phone(number: str | None) -> str:
    """An E.164 number as people write it internationally ("+44 20 7946 0958"); anything unparsable as is."""
    if not number:
        return ""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def error_message(text: str) -> dict[str, Any]:
    """An error for the user; `text` is plain (it often quotes what they typed) and is escaped."""
    return message(text, [section(f":warning: {escape(text)}")])


def info_message(text: str) -> dict[str, Any]:
    return message(text, [section(escape(text))])


def _text(v: Any) -> bool:
    return v is None or isinstance(v, str)


def _option(v: Any) -> bool:
    return isinstance(v, dict) and isinstance(v.get("value"), str)


def _file(v: Any) -> bool:
    return isinstance(v, dict) and isinstance(v.get("id"), str)


def _strings(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(i, str) for i in v)


# Slack's shape of each value an element's state may carry (view.state.values, see
# https://api.slack.com/reference/interaction-payloads/views): a value of another shape is dropped.
_STATE_SHAPES: dict[str, Callable[[Any], bool]] = {
    "value": _text,
    "selected_option": lambda v: v is None or _option(v),
    "selected_options": lambda v: isinstance(v, list) and all(_option(o) for o in v),
    "selected_user": _text,
    "selected_users": _strings,
    "selected_conversation": _text,
    "selected_conversations": _strings,
    "selected_channel": _text,
    "selected_channels": _strings,
    "selected_date": _text,
    "selected_time": _text,
    "selected_date_time": lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool)),
    "files": lambda v: isinstance(v, list) and all(_file(f) for f in v),
    "rich_text_value": lambda v: v is None or isinstance(v, dict),
}


def view_state(view: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """A submitted view's `state.values`, keeping only what has Slack's shape: {block_id: {action_id:
    element state}}; an element, or a value in it, of any other shape is left out, so form readers see
    an empty input (and answer in the modal) instead of failing on it."""
    values = (view.get("state") or {}).get("values") if isinstance(view.get("state"), dict) else None
    clean: dict[str, dict[str, dict[str, Any]]] = {}
    for block_id, actions in (values or {}).items() if isinstance(values, dict) else ():
        if not isinstance(actions, dict):
            continue
        for action_id, element in actions.items():
            if not isinstance(element, dict):
                continue
            kept = {k: v for k, v in element.items() if k not in _STATE_SHAPES or _STATE_SHAPES[k](v)}
            clean.setdefault(block_id, {})[action_id] = kept
    return clean


class ModalState(BaseModel):
    """What a modal carries in private_metadata (ids, not data; well under 3000 chars), parsed back in
    one place."""

    def encode(self) -> str:
        return self.model_dump_json(exclude_defaults=True)

    @classmethod
    def decode(cls, raw: str | None) -> Self:
        return cls.model_validate_json(raw or "{}")


LOADING_CALLBACK = "loading"
NOTICE_CALLBACK = "notice"


def loading_view(title: str, text: str = "Loading…") -> dict[str, Any]:
    """Opened on the trigger at once (trigger ids expire after 3 s); the real view replaces it."""
    return modal(
        callback_id=LOADING_CALLBACK,
        title=title,
        close="Cancel",
        blocks=[section(f":hourglass_flowing_sand: {text}")],
    )


def notice_view(title: str, text: str, *, icon: str = ":warning:") -> dict[str, Any]:
    """What a modal shows instead of its form when it can't be filled (no permission, unknown client,
    Slack couldn't tell who you are)."""
    return modal(callback_id=NOTICE_CALLBACK, title=title, close="Close", blocks=[section(f"{icon} {text}")])
