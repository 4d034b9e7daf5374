"""Configuration: a TOML file overridden by `PEERBOT_<SECTION>__<KEY>` environment variables (pydantic-settings).

Every key, with its default, is documented in `config.example.toml`. A bad config is reported as a list of
`section.key: reason` lines; secrets are `SecretStr` and never appear in reprs, logs or error messages.
"""

from __future__ import annotations

import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG_PATH = Path("peerbot.toml")
_toml_path: ContextVar[Path | None] = ContextVar("peerbot_toml_path", default=None)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class StorageSettings(_Section):
    url: str = "sqlite:///peerbot.db"

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith("sqlite:///"):
            raise ValueError("must start with sqlite:/// (e.g. sqlite:///peerbot.db)")
        return value


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class ConsoleSettings(_Section):
    enabled: bool = True
    moderators: list[str] = Field(default_factory=lambda: ["mod"])
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _iana(cls, value: str) -> str:
        return _check_timezone(value)


class SlackSettings(_Section):
    enabled: bool = False
    mode: Literal["socket", "http"] = "socket"
    bot_token: SecretStr = SecretStr("")
    app_token: SecretStr = SecretStr("")
    signing_secret: SecretStr = SecretStr("")
    host: str = "127.0.0.1"
    port: int = Field(default=3000, ge=0, le=65535)  # 0: any free port (logged at start)
    api_url: str = "https://slack.com/api/"
    moderator_channel: str = ""
    # Who may use moderator commands and buttons: members of this user group ("S0123ABC") and/or these user ids.
    moderator_usergroup: str = ""
    moderator_users: list[str] = Field(default_factory=list)
    # How long the user group's member list is trusted before it is asked for again.
    moderator_cache_seconds: float = Field(default=300.0, ge=0, le=86400)
    # Who a re-paged alert notifies: "here" (active members of the moderator channel) or "usergroup".
    repage_mention: Literal["here", "usergroup"] = "here"
    # Slack allows about one message per second per channel: the adapter spaces its posts this far apart.
    post_interval_seconds: float = Field(default=1.0, ge=0, le=60)

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL like https://slack.com/api/")
        return value if value.endswith("/") else value + "/"

    @model_validator(mode="after")
    def _needs_credentials_when_enabled(self) -> SlackSettings:
        if self.repage_mention == "usergroup" and not self.moderator_usergroup:
            raise ValueError("slack.repage_mention = \"usergroup\" needs slack.moderator_usergroup")
        if not self.enabled:
            return self
        missing = [name for name in ("bot_token",) if not getattr(self, name).get_secret_value()]
        if self.mode == "socket" and not self.app_token.get_secret_value():
            missing.append("app_token")
        if self.mode == "http" and not self.signing_secret.get_secret_value():
            missing.append("signing_secret")
        if not self.moderator_channel:
            missing.append("moderator_channel")
        if missing:
            raise ValueError("required when slack.enabled is true: " + ", ".join(f"slack.{m}" for m in missing))
        return self


class DiscordSettings(_Section):
    enabled: bool = False
    token: SecretStr = SecretStr("")
    api_base: str = "https://discord.com/api/v10"
    moderator_channel: str = ""
    # Members with this role are moderators (checked with Discord on every moderator command); re-pages ping it.
    moderator_role: str = ""
    # The one guild (server) this instance serves, to register /peer in at start (instant); empty: registered
    # globally, and the guild the bot is in is served. One server per instance: DMs belong to it.
    guild_ids: list[str] = Field(default_factory=list)
    # 0: one gateway connection; N: N shards; "auto": as many as Discord recommends.
    shards: int | Literal["auto"] = 0
    # For `peerbot discord invite-url`; empty: read from the bot token.
    application_id: str = ""
    # Anonymous posts through a channel webhook, shown under the pseudonym (needs Manage Webhooks); false: the
    # bot's own messages.
    use_webhooks: bool = False

    @field_validator("moderator_channel", "moderator_role", "application_id")
    @classmethod
    def _snowflake(cls, value: str) -> str:
        if value and not value.isdigit():
            raise ValueError(f"must be a Discord id (digits only), got {value!r}")
        return value

    @field_validator("guild_ids")
    @classmethod
    def _snowflakes(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not str(v).isdigit()]
        if bad:
            raise ValueError(f"must be Discord guild ids (digits only), got {bad!r}")
        if len(value) > 1:
            raise ValueError("peerbot serves one Discord server per instance: give at most one guild id "
                             "(run one instance per server)")
        return [str(v) for v in value]

    @field_validator("shards")
    @classmethod
    def _shards(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 0 <= value <= 1000:
            raise ValueError("must be 0 (no sharding), a shard count, or \"auto\"")
        return value

    @model_validator(mode="after")
    def _needs_token_when_enabled(self) -> DiscordSettings:
        if self.enabled:
            missing = [n for n in ("token",) if not self.token.get_secret_value()]
            # Without a moderator role nobody on Discord could acknowledge an alert.
            missing += [n for n in ("moderator_channel", "moderator_role") if not getattr(self, n)]
            if missing:
                raise ValueError(
                    "required when discord.enabled is true: " + ", ".join(f"discord.{m}" for m in missing)
                )
        return self


class CrisisResource(_Section):
    name: str
    contact: str
    hours: str = ""


class SafetySettings(_Section):
    locale: str = "en-US"
    # Empty: the built-in resources for `locale`. Otherwise these replace them.
    crisis_resources: list[CrisisResource] = Field(default_factory=list)
    ack_timeout_minutes: int = Field(default=5, ge=1, le=240)
    lexicon_path: str = ""
    # Re-pages before an unacknowledged alert is marked breached.
    max_repages: int = Field(default=3, ge=0, le=50)
    # On-call moderators DMed on each re-page: "platform:user_id", e.g. "slack:U0123", "discord:1234", "console:mod".
    oncall: list[str] = Field(default_factory=lambda: ["console:mod"])
    # Further alarming messages from the same person within this window join the open case.
    join_window_minutes: int = Field(default=60, ge=1, le=1440)
    # Show the text of the alarming message in moderator alerts (an excerpt), or only what and where.
    alert_excerpt: bool = True

    @field_validator("oncall")
    @classmethod
    def _platform_prefixed(cls, value: list[str]) -> list[str]:
        for entry in value:
            platform, _, user_id = entry.partition(":")
            if platform not in ("console", "slack", "discord") or not user_id:
                raise ValueError(f"entries look like 'slack:U0123' (platform:user id), got {entry!r}")
        return value

    @field_validator("lexicon_path")
    @classmethod
    def _file_exists(cls, value: str) -> str:
        if value and not Path(value).expanduser().is_file():
            raise ValueError(f"no such file: {value}")
        return value


class OutboxSettings(_Section):
    max_attempts: int = Field(default=8, ge=1, le=100)
    backoff_base_seconds: float = Field(default=2.0, gt=0)
    backoff_max_seconds: float = Field(default=300.0, gt=0)
    batch_size: int = Field(default=50, ge=1, le=1000)
    lease_seconds: float = Field(default=60.0, gt=0)


DEFAULT_TOPICS = ["Chronic pain", "Diabetes", "Multiple sclerosis", "Heart health", "Mental health", "Caregiver",
                  "Staff wellbeing"]


def slug(label: str) -> str:
    """"Chronic pain" -> "chronic-pain": how topics and groups are typed in commands and named in config."""
    return "-".join("".join(ch if ch.isalnum() else " " for ch in label.casefold()).split())


class CommunitySettings(_Section):
    name: str = "our peer-support community"
    topics: list[str] = Field(default_factory=lambda: list(DEFAULT_TOPICS), min_length=1)
    languages: list[str] = Field(default_factory=lambda: ["English", "Español", "Français", "Deutsch"], min_length=1)

    @field_validator("topics")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        slugs = [slug(t) for t in value]
        if any(not s for s in slugs) or len(set(slugs)) != len(slugs):
            raise ValueError("topics must be distinct, non-empty names")
        return value


class GroupsSettings(_Section):
    # Topic (as a slug, e.g. "chronic-pain") -> group channel, per platform: a console channel name,
    # a Slack channel id ("C0123ABC") or a Discord channel id.
    console: dict[str, str] = Field(default_factory=lambda: {
        "chronic-pain": "chronic-pain", "diabetes": "diabetes", "staff-wellbeing": "staff-wellbeing"})
    slack: dict[str, str] = Field(default_factory=dict)
    discord: dict[str, str] = Field(default_factory=dict)
    allow_links: bool = False
    max_length: int = Field(default=2000, ge=50, le=4000)
    rate_limit_posts: int = Field(default=5, ge=1)
    rate_limit_minutes: int = Field(default=10, ge=1)
    keep_text: bool = False


class CheckinSettings(_Section):
    # How often the tick looks for due check-ins, and how many it claims per batch.
    tick_seconds: float = Field(default=30.0, ge=1)
    batch_size: int = Field(default=500, ge=1, le=10000)
    # Local time of day for new schedules (members change it with /peer checkin time HH:MM).
    default_time: str = "10:00"

    @field_validator("default_time")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        parts = value.split(":")
        if len(parts) != 2 or not all(p.isdigit() for p in parts) or int(parts[0]) > 23 or int(parts[1]) > 59:
            raise ValueError("must be a time of day like 09:30")
        return f"{int(parts[0]):02d}:{int(parts[1]):02d}"


class PairingSettings(_Section):
    # Hours a mentor (then the mentee) has to answer a proposal before the next candidate is tried.
    proposal_expiry_hours: float = Field(default=48.0, gt=0, le=24 * 30)
    # Days after a pairing starts when both sides are asked "how is it going?".
    followup_days: float = Field(default=7.0, gt=0, le=365)
    # Mentees a new mentor takes at once, until they change it.
    default_capacity: int = Field(default=2, ge=1, le=20)
    # A follow-up score at or below this offers a rematch.
    low_score_threshold: int = Field(default=2, ge=1, le=4)
    # How often the scheduler looks for expired proposals and due follow-ups.
    tick_seconds: float = Field(default=60.0, ge=1)


class PrivacySettings(_Section):
    retention_days: int = Field(default=90, ge=1, le=3650)


class EvaluationSettings(_Section):
    # Offer the anonymous surveys at all (a baseline after onboarding, then follow-ups).
    surveys: bool = True
    # Days between a member's surveys (the follow-up after the baseline, and each one after that).
    survey_interval_days: int = Field(default=90, ge=7, le=3650)
    # The privacy floor: no figure is reported for a cell with fewer members than this.
    min_cell_size: int = Field(default=5, ge=2, le=1000)


class SchedulerSettings(_Section):
    tick_timeout_seconds: float = Field(default=60.0, gt=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PEERBOT_", env_nested_delimiter="__", extra="forbid", case_sensitive=False,
    )

    storage: StorageSettings = Field(default_factory=StorageSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    discord: DiscordSettings = Field(default_factory=DiscordSettings)
    safety: SafetySettings = Field(default_factory=SafetySettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    community: CommunitySettings = Field(default_factory=CommunitySettings)
    groups: GroupsSettings = Field(default_factory=GroupsSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    checkins: CheckinSettings = Field(default_factory=CheckinSettings)
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)
    pairing: PairingSettings = Field(default_factory=PairingSettings)

    @model_validator(mode="after")
    def _groups_name_known_topics(self) -> Settings:
        known = {slug(t) for t in self.community.topics}
        problems = [f"groups.{platform}.{topic}: not one of community.topics"
                    for platform in ("console", "slack", "discord")
                    for topic in getattr(self.groups, platform) if topic not in known]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _toml_path.get()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


class ConfigError(Exception):
    """Every problem found in a config, each as `section.key: reason`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


_SECRET_HINTS = ("token", "secret", "password")


def _describe(error: dict[str, Any]) -> str:
    loc = [str(part) for part in error.get("loc", ())]
    # Model-level validators report at the section: their message already names the keys.
    key = ".".join(loc) if loc else "config"
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if error.get("type") == "extra_forbidden":
        message = "unknown key"
    elif error.get("type") == "missing":
        message = "required"
    elif "input" in error and not any(h in key for h in _SECRET_HINTS) and not isinstance(error["input"], dict):
        message = f"{message} (got {error['input']!r})"
    return f"{key}: {message}"


def load_settings(path: Path | None = None, *, required: bool = False) -> Settings:
    """Read the config at `path` (default `peerbot.toml` if it exists, else built-in defaults) plus env overrides.

    Raises ConfigError listing every problem.
    """
    path = path if path is not None else DEFAULT_CONFIG_PATH
    if not path.is_file():
        if required:
            raise ConfigError([f"config: file not found: {path}"])
        path = None  # built-in defaults, still overridable from the environment
    else:
        try:
            tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"config: {path} is not valid TOML: {exc}"]) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError([f"config: cannot read {path}: {exc}"]) from None
    token = _toml_path.set(path)
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError([_describe(dict(err)) for err in exc.errors()]) from None
    finally:
        _toml_path.reset(token)


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"not an IANA timezone: {value!r}") from None
    return value
