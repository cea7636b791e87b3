"""Turning raw input (modal state, API bodies, CSV rows) into validated pydantic models, with one
user-facing message per field when it fails."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from bot.errors import ValidationFailed

Model = TypeVar("Model", bound=BaseModel)


class FieldProblems(ValueError):
    """Raised inside a model validator to report several fields at once (e.g. `contacts.1.phone`)."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(fields.values()))
        self.fields = fields


def _friendly(error: Any) -> str:
    kind, message = error["type"], error["msg"]
    if kind in ("missing", "string_too_short") and error.get("ctx", {}).get("min_length", 1) <= 1:
        return "This field is required."
    if kind == "string_too_long":
        return f"Keep this under {error['ctx']['max_length']} characters."
    if error["loc"] and "email" in str(error["loc"][-1]) and kind == "value_error":
        return "Enter a valid email address, like name@company.com."
    return message.removeprefix("Value error, ")


def parse_input(model: type[Model], data: Any) -> Model:
    """Validate `data` into `model`, or raise ValidationFailed mapping each field path to a message.
    A validator may raise `ValueError("field: message")` to name the field it is about."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields: dict[str, str] = {}
        for error in exc.errors():
            cause = error.get("ctx", {}).get("error")
            if isinstance(cause, FieldProblems):
                fields.update(cause.fields)
                continue
            key = ".".join(str(part) for part in error["loc"])
            message = _friendly(error)
            if not key and ": " in message:
                key, message = message.split(": ", 1)
            fields.setdefault(key or "__all__", message)
        raise ValidationFailed(fields) from None
