"""Settings from the environment or `.env`, named exactly as in the product contract."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _comma_set(value: object, normalise: Callable[[str], str] = str) -> object:
    """`A, b,c` from the environment as a frozenset of its non-empty parts."""
    if isinstance(value, str):
        return frozenset(normalise(part.strip()) for part in value.split(",") if part.strip())
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    slack_bot_token: str | None = Field(None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str | None = Field(None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: str | None = Field(None, alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field("https://slack.com/api/", alias="SLACK_API_URL")
    database_url: str = Field("sqlite+aiosqlite:///clientbot.db", alias="DATABASE_URL")
    port: int = Field(3000, alias="PORT")
    admins: Annotated[frozenset[str], NoDecode] = Field(frozenset(), alias="CLIENTBOT_ADMINS")
    storage_dir: str = Field("./data/files", alias="CLIENTBOT_STORAGE_DIR")
    # file:///path or s3://bucket/prefix (bot.filestore); unset: CLIENTBOT_STORAGE_DIR on the local disk.
    storage_url: str | None = Field(None, alias="CLIENTBOT_STORAGE_URL")
    # SIGTERM: how long in-flight work may take to finish before the process exits anyway.
    shutdown_grace: float = Field(30.0, ge=0, le=3600, alias="CLIENTBOT_SHUTDOWN_GRACE")
    # GET /metrics: off unless a token is set (sent as `Authorization: Bearer TOKEN`).
    metrics_token: str | None = Field(None, alias="CLIENTBOT_METRICS_TOKEN")
    log_format: Literal["text", "json"] = Field("text", alias="CLIENTBOT_LOG_FORMAT")
    digest_channel: str | None = Field(None, alias="CLIENTBOT_DIGEST_CHANNEL")
    timezone: str = Field("UTC", alias="CLIENTBOT_TIMEZONE")
    # ISO 4217 code money is shown in (e.g. EUR); unset: the currency of the machine's locale, else USD.
    currency: str | None = Field(None, alias="CLIENTBOT_CURRENCY")
    email_secret: str | None = Field(None, alias="CLIENTBOT_EMAIL_SECRET")
    # Email logging: the largest raw message accepted (25 MB of attachments is ~34 MB once base64-encoded),
    # what to do with mail the receiving host did not authenticate, that host's authserv-id(s) as written
    # in its Authentication-Results headers, and how long one message may take to read.
    email_max_mb: int = Field(35, ge=1, le=1024, alias="CLIENTBOT_EMAIL_MAX_MB")
    email_auth: Literal["reject", "flag"] = Field("reject", alias="CLIENTBOT_EMAIL_AUTH")
    email_authserv_id: Annotated[frozenset[str], NoDecode] = Field(
        frozenset(), alias="CLIENTBOT_EMAIL_AUTHSERV_ID"
    )
    email_parse_timeout: float = Field(30.0, gt=0, le=600, alias="CLIENTBOT_EMAIL_PARSE_TIMEOUT")
    # Per-job crontab overrides, e.g. {"weekly_digest": "0 9 * * fri"} (see `clientbot jobs list`).
    schedules: dict[str, str] = Field(default_factory=dict, alias="CLIENTBOT_SCHEDULES")
    feedback_retention_years: int = Field(5, ge=1, le=100, alias="CLIENTBOT_FEEDBACK_RETENTION_YEARS")
    # Origins the bot token may be sent to when reading a file's url_private: Slack's file host only.
    # Tests add their fake Slack's loopback origin here explicitly; nothing else ever gets the token.
    slack_file_hosts: Annotated[frozenset[str], NoDecode] = Field(
        frozenset({"https://files.slack.com"}), alias="CLIENTBOT_SLACK_FILE_HOSTS"
    )
    # Client health (services/health.py): when each reason counts, what it costs out of 100, the levels.
    health_contact_watch_days: int = Field(30, ge=1, le=3650, alias="CLIENTBOT_HEALTH_CONTACT_WATCH_DAYS")
    health_contact_risk_days: int = Field(60, ge=1, le=3650, alias="CLIENTBOT_HEALTH_CONTACT_RISK_DAYS")
    health_pipeline_stale_days: int = Field(14, ge=1, le=365, alias="CLIENTBOT_HEALTH_PIPELINE_STALE_DAYS")
    health_default_fill_days: int = Field(45, ge=1, le=3650, alias="CLIENTBOT_HEALTH_DEFAULT_FILL_DAYS")
    health_feedback_drop: float = Field(0.5, gt=0, le=4, alias="CLIENTBOT_HEALTH_FEEDBACK_DROP")
    health_watch_below: int = Field(80, ge=1, le=100, alias="CLIENTBOT_HEALTH_WATCH_BELOW")
    health_risk_below: int = Field(50, ge=1, le=100, alias="CLIENTBOT_HEALTH_RISK_BELOW")

    @field_validator("admins", mode="before")
    @classmethod
    def _split_admins(cls, value: object) -> object:
        return _comma_set(value)

    @field_validator("slack_file_hosts", "email_authserv_id", mode="before")
    @classmethod
    def _split_lowercase(cls, value: object) -> object:
        """Origins and host names compare case-insensitively (and an origin without its trailing /)."""
        return _comma_set(value, lambda part: part.rstrip("/").lower())

    @property
    def email_max_bytes(self) -> int:
        return self.email_max_mb * 1024 * 1024

    @field_validator("currency")
    @classmethod
    def _currency_code(cls, value: str | None) -> str | None:
        if value is not None and not (len(value.strip()) == 3 and value.strip().isalpha()):
            raise ValueError("CLIENTBOT_CURRENCY is a three-letter ISO 4217 code, e.g. EUR")
        return value.strip().upper() if value else None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        ZoneInfo(value)  # raises for an unknown IANA zone
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")


@lru_cache
def get_settings() -> Settings:
    return Settings()
