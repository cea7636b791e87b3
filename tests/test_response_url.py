"""response_url bodies (bot/response_url.py): orjson's bytes read back as the stdlib's would."""

from __future__ import annotations

import json

from bot.response_url import encode


def test_the_body_reads_back_as_the_message_without_its_empty_fields() -> None:
    message = {"text": 'Acme · £12,000 ✅ "q" <b>', "blocks": [{"type": "divider"}], "thread_ts": None}
    assert json.loads(encode(message)) == {"text": message["text"], "blocks": [{"type": "divider"}]}


def test_text_utf8_cannot_hold_is_escaped_not_refused() -> None:
    body = encode({"text": "half a pair: \ud83d"})
    assert json.loads(body) == {"text": "half a pair: \ud83d"}
