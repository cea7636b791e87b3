"""Block Kit limit checks for everything the app sends to Slack (views and messages)."""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View


class BlockKitError(AssertionError):
    pass


# (where, limit): a text object's length by the key that holds it, per containing element type.
TEXT_LIMITS: dict[tuple[str, str], int] = {
    ("section", "text"): 3000,
    ("header", "text"): 150,
    ("button", "text"): 75,
    ("option", "text"): 75,
    ("option", "description"): 75,
    ("input", "label"): 2000,
    ("input", "hint"): 2000,
    ("*", "placeholder"): 150,
    ("context", "element"): 3000,
    ("section", "field"): 2000,
    (
        "confirm",
        "text",
    ): 300,  # a confirmation dialog (https://api.slack.com/reference/block-kit/composition-objects#confirm)
}
COUNT_LIMITS: dict[tuple[str, str], int] = {
    ("context", "elements"): 10,
    ("actions", "elements"): 25,
    ("section", "fields"): 10,
    ("static_select", "options"): 100,
    ("multi_static_select", "options"): 100,
    ("checkboxes", "options"): 10,
    ("radio_buttons", "options"): 10,
    ("overflow", "options"): 5,
}
ID_MAX, VALUE_MAX, MESSAGE_TEXT_MAX = 255, 2000, 40000
TEXT_KEYS = ("text", "label", "hint", "placeholder", "description")


def _fail(problems: list[str]) -> None:
    if problems:
        raise BlockKitError("; ".join(problems))


def _text_len(obj: Any) -> int:
    return len(obj.get("text", "")) if isinstance(obj, dict) else len(str(obj or ""))


def _walk(node: Any, path: str, problems: list[str], kind: str = "") -> None:
    """Check every nested element, option and text object against the tables above."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            _walk(item, f"{path}[{index}]", problems, kind)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type", kind) if node.get("type") not in ("plain_text", "mrkdwn") else kind
    for key in ("action_id", "block_id"):
        if len(str(node.get(key, ""))) > ID_MAX:
            problems.append(f"{path}.{key} longer than {ID_MAX}")
    if kind == "button" and len(str(node.get("value", ""))) > VALUE_MAX:
        problems.append(f"{path}.value longer than {VALUE_MAX}")
    for key, value in node.items():
        if key in TEXT_KEYS and isinstance(value, dict) and value.get("type") in ("plain_text", "mrkdwn"):
            limit = TEXT_LIMITS.get((kind, key)) or TEXT_LIMITS.get(("*", key)) or 3000
            if _text_len(value) > limit:
                problems.append(f"{path}.{key} longer than {limit} ({_text_len(value)})")
            if not value.get("text"):
                problems.append(f"{path}.{key} is empty")
        if (kind, key) in COUNT_LIMITS and isinstance(value, list) and len(value) > COUNT_LIMITS[(kind, key)]:
            problems.append(f"{path}.{key} has {len(value)} items (max {COUNT_LIMITS[(kind, key)]})")
        if kind == "section" and key == "fields":
            problems += [
                f"{path}.fields[{i}] longer than 2000" for i, f in enumerate(value) if _text_len(f) > 2000
            ]
        if kind == "context" and key == "elements":
            problems += [
                f"{path}.elements[{i}] longer than 3000" for i, e in enumerate(value) if _text_len(e) > 3000
            ]
        if key in ("options", "initial_options", "option_groups"):
            _walk(value, f"{path}.{key}", problems, "option")
        elif key == "confirm" and isinstance(value, dict):
            _walk(value, f"{path}.{key}", problems, "confirm")
        elif isinstance(value, dict | list) and key not in TEXT_KEYS:
            _walk(value, f"{path}.{key}", problems, kind)


def _check_blocks(blocks: list[dict[str, Any]], limit: int, problems: list[str]) -> None:
    if len(blocks) > limit:
        problems.append(f"{len(blocks)} blocks (max {limit})")
    seen: set[str] = set()
    for index, raw in enumerate(blocks):
        block_id = raw.get("block_id")
        if block_id:
            if block_id in seen:
                problems.append(f"duplicate block_id {block_id!r}")
            seen.add(block_id)
        try:
            parsed = Block.parse(raw)
            if parsed is not None:
                parsed.validate_json()
        except Exception as error:  # slack_sdk raises SlackObjectFormationError and friends
            problems.append(f"blocks[{index}] ({raw.get('type')}): {error}")
        _walk(raw, f"blocks[{index}]", problems)


def validate_view(view: dict[str, Any]) -> None:
    problems: list[str] = []
    try:
        View(**view).validate_json()
    except Exception as error:
        problems.append(f"view: {error}")
    for key in ("title", "submit", "close"):
        if view.get(key) and _text_len(view[key]) > 24:
            problems.append(f"{key} longer than 24")
    if len(view.get("private_metadata") or "") > 3000:
        problems.append("private_metadata longer than 3000")
    _check_blocks(view.get("blocks") or [], 100, problems)
    _fail(problems)


def validate_message(payload: dict[str, Any]) -> None:
    problems: list[str] = []
    if len(str(payload.get("text") or "")) > MESSAGE_TEXT_MAX:
        problems.append(f"text longer than {MESSAGE_TEXT_MAX}")
    blocks = payload.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    _check_blocks(blocks, 50, problems)
    _fail(problems)
