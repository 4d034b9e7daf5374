"""Configuration: a good file, each kind of bad value, env overrides, and secrets that never show."""

from __future__ import annotations

import io
import logging
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr

from bot.config import ConfigError, Settings, load_settings
from bot.logs import JsonFormatter
from tests.conftest import ROOT, peerbot


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "peerbot.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, required=True)
    return caught.value.problems


def test_good_file_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, """
[storage]
url = "sqlite:///data/bot.db"
[slack]
enabled = true
mode = "http"
bot_token = "xoxb-1"
signing_secret = "s3cret"
port = 8080
moderator_channel = "C123"
[safety]
locale = "en-GB"
ack_timeout_minutes = 10
crisis_resources = [{ name = "Staff line", contact = "call 555 0100", hours = "24/7" }]
""")
    settings = load_settings(path, required=True)
    assert settings.storage.url == "sqlite:///data/bot.db"
    assert settings.slack.mode == "http" and settings.slack.port == 8080
    assert settings.slack.signing_secret.get_secret_value() == "s3cret"
    assert settings.safety.ack_timeout_minutes == 10
    assert settings.safety.crisis_resources[0].contact == "call 555 0100"
    assert settings.discord.enabled is False  # untouched sections keep their defaults


def test_missing_default_file_gives_built_in_defaults() -> None:
    settings = load_settings(None)
    assert settings.storage.url == "sqlite:///peerbot.db"
    assert settings.console.enabled and settings.console.moderators == ["mod"]
    assert not settings.slack.enabled and not settings.discord.enabled


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[slack]\nport = "eighty"', "slack.port:"),
        ("[slack]\nport = 70000", "slack.port:"),
        ('[slack]\nmode = "carrier-pigeon"', "slack.mode:"),
        ("[safety]\nack_timeout_minutes = 0", "safety.ack_timeout_minutes:"),
        ('[safety]\nlexicon_path = "/no/such/lexicon.toml"', "safety.lexicon_path: no such file"),
        ('[storage]\nurl = "mysql://x"', "storage.url:"),
        ('[logging]\nlevel = "LOUD"', "logging.level:"),
        ('[console]\ntimezone = "Mars/Olympus"', "console.timezone: not an IANA timezone"),
        ("[slack]\nprot = 80", "slack.prot: unknown key"),
        ("[telegram]\nenabled = true", "telegram: unknown key"),
        ("[outbox]\nmax_attempts = -1", "outbox.max_attempts:"),
    ],
)
def test_each_kind_of_bad_value_names_its_key(tmp_path: Path, toml: str, expected: str) -> None:
    problems = problems_of(write(tmp_path, toml))
    assert any(p.startswith(expected) for p in problems), problems


def test_enabled_platform_without_credentials_names_what_is_missing(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, "[slack]\nenabled = true\n[discord]\nenabled = true\n"))
    joined = "\n".join(problems)
    assert "slack.bot_token" in joined and "slack.app_token" in joined and "slack.moderator_channel" in joined
    assert "discord.token" in joined


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, '[slack]\nport = "x"\n[safety]\nack_timeout_minutes = 0\n[x]\ny=1\n'))
    assert len(problems) == 3


def test_invalid_toml_and_missing_file_are_clear(tmp_path: Path) -> None:
    assert "not valid TOML" in problems_of(write(tmp_path, "[slack\nport=1"))[0]
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.toml", required=True)


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "[slack]\nport = 3001\nhost = \"0.0.0.0\"\n")
    monkeypatch.setenv("PEERBOT_SLACK__PORT", "4000")
    monkeypatch.setenv("PEERBOT_SAFETY__LOCALE", "en-AU")
    settings = load_settings(path, required=True)
    assert settings.slack.port == 4000
    assert settings.slack.host == "0.0.0.0"  # the rest of the section still comes from the file
    assert settings.safety.locale == "en-AU"


def test_bad_environment_value_names_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PEERBOT_SLACK__PORT", "eighty")
    with pytest.raises(ConfigError) as caught:
        load_settings(None)
    assert caught.value.problems[0].startswith("slack.port:")


def test_secrets_never_show_in_repr_errors_or_logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PEERBOT_SLACK__BOT_TOKEN", "xoxb-TOPSECRET")
    monkeypatch.setenv("PEERBOT_DISCORD__TOKEN", "DISCORD-TOPSECRET")
    settings = load_settings(None)
    assert settings.slack.bot_token.get_secret_value() == "xoxb-TOPSECRET"
    for rendering in (repr(settings), str(settings), settings.model_dump_json()):
        assert "TOPSECRET" not in rendering
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.secrets")
    logger.addHandler(handler)
    try:
        logger.error("settings loaded", extra={"settings": settings})
    finally:
        logger.removeHandler(handler)
    assert "TOPSECRET" not in stream.getvalue()


def test_a_malformed_secret_is_reported_without_its_value(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, '[slack]\nbot_token = ["xoxb-LEAKED"]\n'))
    assert problems[0].startswith("slack.bot_token:") and "LEAKED" not in problems[0]


def _keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and annotation is not SecretStr:
            keys |= _keys(annotation, f"{prefix}{name}.")
        else:
            keys.add(prefix + name)
    return keys


def _example_keys(data: dict[str, object], known: set[str], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, value in data.items():
        if isinstance(value, dict) and prefix + name not in known:
            keys |= _example_keys(value, known, f"{prefix}{name}.")
        else:
            keys.add(prefix + name)
    return keys


def test_config_example_documents_every_key_with_its_default() -> None:
    example = tomllib.loads((ROOT / "config.example.toml").read_text(encoding="utf-8"))
    assert _example_keys(example, _keys(Settings)) == _keys(Settings)
    defaults = Settings().model_dump()
    for section, values in example.items():
        for key, value in values.items():
            default = defaults[section][key]
            if isinstance(default, SecretStr):
                default = default.get_secret_value()
            assert value == default, f"{section}.{key}: example says {value!r}, default is {default!r}"


def test_check_config_command(tmp_path: Path) -> None:
    bad = write(tmp_path, '[slack]\nport = "eighty"\n')
    result = peerbot("check-config", "--config", str(bad))
    assert result.returncode == 2
    assert "slack.port" in result.stderr and "Traceback" not in result.stderr
    good = peerbot("check-config", "--config", str(ROOT / "config.example.toml"))
    assert good.returncode == 0, good.stderr


def test_run_with_a_bad_config_exits_2_without_a_traceback(tmp_path: Path) -> None:
    bad = write(tmp_path, "[outbox]\nmax_attempts = 0\n")
    result = peerbot("run", "--config", str(bad))
    assert result.returncode == 2
    assert result.stderr.startswith("outbox.max_attempts:") and "Traceback" not in result.stderr
