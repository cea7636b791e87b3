"""Channel subscriptions: the posts a subscribed channel gets, and the answers to
`/client subscribe | subscriptions | unsubscribe`."""

from __future__ import annotations

from typing import Any

from bot.models import ChannelSubscription, SubscriptionEvent
from views.common import context, escape, info_message, mention, message, section, truncate

EVENT_TITLES = {
    SubscriptionEvent.STATUS.value: "status changes",
    SubscriptionEvent.HIRE.value: "hires",
    SubscriptionEvent.IMPORTANT.value: "important communications",
    SubscriptionEvent.FEEDBACK.value: "finalised feedback",
    SubscriptionEvent.HEALTH.value: "health changes",
}
_TYPES = {"video_call": "video call", "contract_signed": "contract signed"}


def _client(payload: dict[str, Any]) -> str:
    return f"`{escape(payload.get('client_code'))}` *{escape(truncate(payload.get('client_name'), 150))}*"


def _by(payload: dict[str, Any]) -> str:
    return f" · by {mention(payload['by'])}" if payload.get("by") else ""


def event_line(event: str, payload: dict[str, Any]) -> str:
    """One mrkdwn line about the event; private figures appear only when the payload still holds them
    (the caller removes them for shared channels)."""
    p = payload
    if event == SubscriptionEvent.STATUS.value:
        line = f":arrows_counterclockwise: Status *{escape(p.get('before'))}* → *{escape(p.get('after'))}*"
        if p.get("reason"):
            return f"{line}{_by(p)}\n>{escape(truncate(p['reason'], 300))}"
    elif event == SubscriptionEvent.HIRE.value:
        line = (
            f":tada: *{escape(truncate(p.get('candidate'), 100))}* hired for "
            f"`{escape(p.get('job'))}` {escape(truncate(p.get('job_title'), 150))}"
        )
        if p.get("fee") is not None:
            line += f" · fee {escape(str(p['fee']))}"
    elif event == SubscriptionEvent.IMPORTANT.value:
        kind = _TYPES.get(str(p.get("type")), str(p.get("type") or "communication"))
        line = (
            f":star: Important {escape(kind)}: *{escape(truncate(p.get('subject') or '(no subject)', 300))}*"
        )
        if p.get("date"):
            line += f" ({escape(str(p['date'])[:10])})"
    elif event == SubscriptionEvent.FEEDBACK.value:
        responses = int(p.get("responses") or 0)
        line = f":memo: Feedback for *{escape(p.get('period'))}* finalised ({responses} response(s))"
        if p.get("overall") is not None:
            line += f" · overall {escape(str(p['overall']))} / 5"
    elif event == SubscriptionEvent.HEALTH.value:
        before, after = (str(p.get(k) or "").replace("-", " ") for k in ("before", "after"))
        line = f":stethoscope: Health *{escape(before)}* → *{escape(after)}*"
        reasons = p.get("reasons") or p.get("public_reasons")
        if reasons:
            line += ": " + escape(truncate(", ".join(map(str, reasons)), 500))
        if p.get("score") is not None:
            line += f" · score {escape(str(p['score']))}"
    else:
        line = f"{escape(event)}"
    return line + _by(p)


def post_message(event: str, payload: dict[str, Any], *, week: str, starts_thread: bool) -> dict[str, Any]:
    """The post for one event: the first of the client's week in the channel names the client and starts
    the thread; the others are replies in it."""
    line = event_line(event, payload)
    plain_client = f"{payload.get('client_code')} {payload.get('client_name')}"
    blocks = [section(line)]
    if starts_thread:
        blocks = [
            section(f"{_client(payload)} · updates for week {escape(week)}"),
            *blocks,
            context("Further updates this week follow in this thread. `/client unsubscribe CODE` to stop."),
        ]
    title = EVENT_TITLES.get(event, event).rstrip("s")
    return message(f"{plain_client}: {title}", blocks)


def _events(sub: ChannelSubscription) -> str:
    return ", ".join(EVENT_TITLES.get(e, e) for e in sub.events or [])


def subscribed_message(sub: ChannelSubscription, *, created: bool) -> dict[str, Any]:
    """Plain text (info_message escapes it)."""
    client = sub.client
    verb = "will now get" if created else "now gets"
    return info_message(
        f"This channel {verb} {_events(sub)} of `{client.client_code}` {client.name},"
        " one thread per week. Revenue, fees and feedback scores are left out if the channel is shared"
        " with another organisation."
    )


def unsubscribed_message(sub: ChannelSubscription) -> dict[str, Any]:
    client = sub.client
    return info_message(f"This channel no longer gets updates about `{client.client_code}` {client.name}.")


def subscriptions_message(subs: list[ChannelSubscription]) -> dict[str, Any]:
    if not subs:
        return info_message(
            "This channel follows no client. `/client subscribe CODE [status hires important feedback"
            " health]` (HR Managers) posts a client's updates here."
        )
    lines = [
        f"• `{escape(s.client.client_code)}` {escape(truncate(s.client.name, 100))}: {_events(s)}"
        for s in subs[:40]
    ]
    more = f"\n…and {len(subs) - 40} more" if len(subs) > 40 else ""
    return message(
        f"This channel follows {len(subs)} client(s)",
        [section(f"*This channel follows {len(subs)} client(s)*\n" + "\n".join(lines) + more)],
    )
