"""The original tool's settings (aws-slurm-burst-budget): its /etc/asbb/config.yaml and its
``ASBB_X_Y`` environment variables, mapped onto asbb's settings.

tests/fixtures/original/config.yaml holds every key of the original's example configuration,
at its default values.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from asbb_core.settings import load_settings, postgres_url_from_dsn
from asbb_core.values.errors import SettingsError

EXAMPLE = Path(__file__).parent / "fixtures" / "original" / "config.yaml"
BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No ASBB_* variables from the caller; the system files moved to an empty folder."""
    for key in list(os.environ):
        if key.startswith("ASBB_"):
            monkeypatch.delenv(key)
    etc = tmp_path / "etc"
    etc.mkdir()
    monkeypatch.setattr("asbb_core.settings.SYSTEM_CONFIG", etc / "config.toml")
    return etc


def notices(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "asbb.settings"]


def yaml_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("ASBB_CONFIG", str(path))
    return path


# ---------------------------------------------------------------- the original's example file


def test_the_original_example_file_maps_onto_asbb_settings(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ASBB_CONFIG", str(EXAMPLE))
    with caplog.at_level(logging.WARNING, logger="asbb.settings"):
        settings = load_settings()
    # service.listen_addr ":8080": Go listens on every interface.
    assert (settings.daemon.host, settings.daemon.port) == ("0.0.0.0", 8080)
    # database.driver postgres + dsn, psycopg 3; max_open_conns 25 bounds pool + overflow.
    assert settings.database.url == (
        "postgresql+psycopg://asbb:password@localhost/asbb?sslmode=disable"
    )
    assert settings.database.pool_size == 12
    assert settings.advisor.url == "http://localhost:8081"
    assert settings.advisor.timeout_ms == 5000  # "30s", capped (and said so below)
    assert settings.advisor.cache_ttl_seconds == 300  # "5m"
    # default_hold_percentage is a multiplier in the original (hold = estimate x 1.2).
    assert settings.holds.buffer == Decimal("1.2")
    assert isinstance(settings.holds.buffer, Decimal)
    # The original released an unreconciled hold at twice reconciliation_timeout ("24h").
    assert settings.holds.timeout_hours == Decimal(48)
    assert settings.daemon.recovery_interval_seconds == 3600  # recovery_check_interval "1h"
    assert settings.daemon.log_level == "info"
    assert settings.default_partition == "cpu"

    said = notices(caplog)
    named = {message.split(": ")[2] for message in said}
    # Keys without a counterpart, set to other than the original's default, are named ...
    assert named == {
        "service.cors_enabled",
        "service.cors_origins",
        "advisor.timeout",
        "slurm.epilog_script",
    }
    assert all(str(EXAMPLE) in message for message in said)
    assert any("CORS" in message for message in said)
    # ... and those at its default (read_timeout "30s", auth.enabled false, ...) are not.
    assert not any("read_timeout" in message or "auth." in message for message in said)


def test_the_example_through_the_real_cli(tmp_path: Path) -> None:
    asbb = BIN / "asbb"
    if not asbb.exists():
        pytest.skip("the asbb console script is not installed in this environment")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASBB_")}
    env |= {"ASBB_CONFIG": str(EXAMPLE), "XDG_DATA_HOME": str(tmp_path / "data")}
    done = subprocess.run(
        [str(asbb), "config", "show", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["daemon"]["host"] == "0.0.0.0"
    assert shown["daemon"]["port"] == 8080
    assert shown["holds"] == {"buffer": "1.2", "timeout_hours": "48"}
    assert shown["database"]["url"] == (
        "postgresql+psycopg://asbb:***@localhost/asbb?sslmode=disable"
    )
    assert "service.cors_enabled: ignored" in done.stderr

    # The original's variable overrides the file, asbb's own variable overrides both.
    env |= {"ASBB_SERVICE_LISTEN_ADDR": "127.0.0.1:9001", "ASBB_DAEMON__PORT": "9002"}
    done = subprocess.run(
        [str(asbb), "config", "show", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert (shown["daemon"]["host"], shown["daemon"]["port"]) == ("127.0.0.1", 9002)

    # A refused file: exit 1 naming the key and the reason, on one line.
    mysql = tmp_path / "mysql.yaml"
    mysql.write_text("database:\n  driver: mysql\n  dsn: 'u:p@tcp(db:3306)/asbb'\n", "utf-8")
    env |= {"ASBB_CONFIG": str(mysql)}
    done = subprocess.run(
        [str(asbb), "config", "validate"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 1
    assert "database.driver" in done.stderr
    assert "MySQL is not supported yet" in done.stderr
    assert done.stdout == ""


# ---------------------------------------------------------------- the original's variables


@pytest.mark.parametrize(
    ("variable", "value", "setting", "expected"),
    [
        (
            "ASBB_DATABASE_DSN",
            "postgresql://asbb:pw@db.example.org:5433/asbb",
            ("database", "url"),
            "postgresql+psycopg://asbb:pw@db.example.org:5433/asbb",
        ),
        (
            "ASBB_DATABASE_DSN",
            "host=db.example.org user=asbb password=secret dbname=asbb sslmode=require",
            ("database", "url"),
            "postgresql+psycopg://asbb:secret@db.example.org/asbb?sslmode=require",
        ),
        ("ASBB_DATABASE_DRIVER", "postgres", ("database", "pool_size"), 10),
        ("ASBB_DATABASE_MAX_OPEN_CONNS", "40", ("database", "pool_size"), 20),
        ("ASBB_SERVICE_LISTEN_ADDR", ":8080", ("daemon", "host"), "0.0.0.0"),
        ("ASBB_SERVICE_LISTEN_ADDR", "[::1]:8081", ("daemon", "port"), 8081),
        ("ASBB_SERVICE_LISTEN_ADDR", "[::1]:8081", ("daemon", "host"), "::1"),
        ("ASBB_BUDGET_DEFAULT_HOLD_PERCENTAGE", "1.35", ("holds", "buffer"), Decimal("1.35")),
        ("ASBB_BUDGET_RECONCILIATION_TIMEOUT", "36h", ("holds", "timeout_hours"), Decimal(72)),
        (
            "ASBB_BUDGET_RECOVERY_CHECK_INTERVAL",
            "10m",
            ("daemon", "recovery_interval_seconds"),
            600,
        ),
        ("ASBB_BUDGET_AUTO_RECOVERY_ENABLED", "false", ("daemon", "recovery_interval_seconds"), 0),
        ("ASBB_BUDGET_AUTO_RECOVERY_ENABLED", "false", ("daemon", "sweep_interval_seconds"), 0),
        ("ASBB_BUDGET_AUTO_RECOVERY_ENABLED", "true", ("daemon", "sweep_interval_seconds"), 60),
        ("ASBB_ADVISOR_URL", "http://advisor:8081", ("advisor", "url"), "http://advisor:8081"),
        ("ASBB_ADVISOR_API_KEY", "s3cret", ("advisor", "token"), "s3cret"),
        ("ASBB_ADVISOR_TIMEOUT", "250ms", ("advisor", "timeout_ms"), 250),
        ("ASBB_ADVISOR_CACHE_TTL", "2m", ("advisor", "cache_ttl_seconds"), 120),
        ("ASBB_ADVISOR_CACHE_ENABLED", "0", ("advisor", "cache_ttl_seconds"), 0),
        ("ASBB_SLURM_DEFAULT_PARTITION", "aws", ("default_partition",), "aws"),
        ("ASBB_LOGGING_LEVEL", "warn", ("daemon", "log_level"), "warning"),
        ("ASBB_INTEGRATION_ADVISOR_ENABLED", "false", ("advisor", "url"), ""),
        (
            "ASBB_INTEGRATION_ALLOCATION_SCHEDULING_ENABLED",
            "false",
            ("allocations", "process_interval_seconds"),
            0,
        ),
    ],
)
def test_each_original_variable_maps(
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    setting: tuple[str, ...],
    expected: object,
) -> None:
    monkeypatch.setenv(variable, value)
    found: object = load_settings()
    for part in setting:
        found = getattr(found, part)
    assert found == expected


def test_ours_win_over_the_originals_and_the_originals_over_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    yaml_config(
        monkeypatch,
        tmp_path,
        "service:\n  listen_addr: '10.0.0.5:7000'\nbudget:\n  default_hold_percentage: 1.1\n",
    )
    assert load_settings().holds.buffer == Decimal("1.1")
    monkeypatch.setenv("ASBB_BUDGET_DEFAULT_HOLD_PERCENTAGE", "1.3")
    assert load_settings().holds.buffer == Decimal("1.3")
    monkeypatch.setenv("ASBB_HOLDS__BUFFER", "1.4")
    assert load_settings().holds.buffer == Decimal("1.4")

    monkeypatch.setenv("ASBB_DATABASE_DSN", "postgresql://original@db/asbb")
    monkeypatch.setenv("ASBB_DATABASE__URL", "postgresql://ours@db/asbb")
    assert load_settings().database.url == "postgresql+psycopg://ours@db/asbb"
    # listen_addr is two settings: asbb's own variable wins for the one it names.
    monkeypatch.setenv("ASBB_DAEMON__PORT", "9100")
    daemon = load_settings().daemon
    assert (daemon.host, daemon.port) == ("10.0.0.5", 9100)


def test_unknown_variables(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # asbb's own non-settings variables are quiet.
    for name in ("ASBB_URL", "ASBB_TOKEN", "ASBB_ACCOUNT", "ASBB_TEST_POSTGRES", "ASBB_FUZZ_X"):
        monkeypatch.setenv(name, "x")
    monkeypatch.setenv("ASBB_DEFAULT_PARTITION", "aws")
    with caplog.at_level(logging.WARNING, logger="asbb.settings"):
        assert load_settings().default_partition == "aws"
    assert notices(caplog) == []

    # Anyone else's: a warning naming it (the environment is inherited by everything).
    monkeypatch.setenv("ASBB_BUDGT_DEFAULT_HOLD_PERCENTAGE", "2")
    monkeypatch.setenv("ASBB_ENV", "production")
    with caplog.at_level(logging.WARNING, logger="asbb.settings"):
        assert load_settings().holds.buffer == Decimal("1.2")
    said = notices(caplog)
    assert any("ASBB_BUDGT_DEFAULT_HOLD_PERCENTAGE: ignored: not a setting" in m for m in said)
    assert any("ASBB_ENV: ignored: the original tool's development" in m for m in said)

    # asbb's own form with a section it does not have: refused (a typo is never ignored).
    monkeypatch.setenv("ASBB_HOLDZ__BUFFER", "2")
    with pytest.raises(SettingsError, match="ASBB_HOLDZ__BUFFER: no such setting: holdz"):
        load_settings()


def test_original_variables_without_counterpart(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ASBB_AUTH_JWT_SECRET", "")  # the default: asks for nothing
    monkeypatch.setenv("ASBB_SERVICE_CORS_ENABLED", "true")
    with caplog.at_level(logging.WARNING, logger="asbb.settings"):
        load_settings()
    said = notices(caplog)
    assert len(said) == 1
    assert said[0].startswith("settings: ASBB_SERVICE_CORS_ENABLED (service.cors_enabled of")
    assert "CORS" in said[0]

    monkeypatch.setenv("ASBB_SERVICE_TLS_ENABLED", "true")
    with pytest.raises(SettingsError, match=r"ASBB_SERVICE_TLS_ENABLED.*refused.*plain HTTP"):
        load_settings()


# ---------------------------------------------------------------- refused, and named


@pytest.mark.parametrize(
    ("text", "field", "match"),
    [
        ("service:\n  listen_adr: ':80'\n", "service.listen_adr", "no such setting in asbb nor"),
        ("servce:\n  listen_addr: ':80'\n", "servce", "no such setting in asbb nor"),
        ("database:\n  urll: 'sqlite:///x'\n", "database.urll", "no such setting"),
        ("logging:\n  sampling:\n    every: 3\n", "logging.sampling.every", "no such setting"),
        ("holds:\n  bufer: 1.3\n", "holds.bufer", "Extra inputs are not permitted"),
        ("database:\n  driver: mysql\n", "database.driver", "MySQL is not supported yet"),
        ("database:\n  driver: sqlite\n", "database.driver", "postgres"),
        ("database:\n  dsn: 'u:p@tcp(db:3306)/x'\n", "database.dsn", "not a PostgreSQL DSN"),
        ("service:\n  tls_enabled: true\n", "service.tls_enabled", "refused.*plain HTTP"),
        (
            "budget:\n  allow_negative_balance: true\n",
            "budget.allow_negative_balance",
            "refused.*available balance",
        ),
        ("budget:\n  default_hold_percentage: 120\n", "budget.default_hold_percentage", "120"),
        ("budget:\n  default_hold_percentage: 0.8\n", "budget.default_hold_percentage", "1 to"),
        ("budget:\n  recovery_check_interval: 60\n", "budget.recovery_check_interval", "Go"),
        ("advisor:\n  cache_ttl: '1.5s'\n", "advisor.cache_ttl", "whole number of seconds"),
        ("service:\n  listen_addr: 'nowhere'\n", "service.listen_addr", "host:port"),
        ("logging:\n  level: loud\n", "logging.level", "debug, info"),
        (
            "database:\n  url: 'sqlite:///a'\n  dsn: 'postgresql://b@h/c'\n",
            "database.url",
            "database.dsn.*both set database.url.*keep one",
        ),
    ],
)
def test_a_bad_key_or_value_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str, field: str, match: str
) -> None:
    path = yaml_config(monkeypatch, tmp_path, text)
    with pytest.raises(SettingsError, match=match) as info:
        load_settings()
    assert info.value.field == field
    assert field in info.value.message
    if not field.startswith("holds"):
        assert str(path) in info.value.message


def test_a_file_that_is_not_yaml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    yaml_config(monkeypatch, tmp_path, "service: [unclosed\n")
    with pytest.raises(SettingsError, match="not valid YAML"):
        load_settings()
    yaml_config(monkeypatch, tmp_path, "- a list\n")
    with pytest.raises(SettingsError, match="mapping of sections"):
        load_settings()


# ---------------------------------------------------------------- our keys, in YAML too


def test_asbb_keys_in_yaml_and_mixed_sections(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    yaml_config(
        monkeypatch,
        tmp_path,
        """
default_partition: aws-cpu
database:
  driver: postgres
  dsn: "host=/var/run/postgresql user=asbb dbname=asbb"
  echo: false
holds:
  buffer: "1.5"
advisor:
  url: http://advisor:8081
  timeout_ms: 200
partitions:
  aws-cpu:
    per_cpu_hour: 0.0425
  local:
    budgeted: false
allocations:
  process_interval: 15m
""",
    )
    settings = load_settings()
    assert settings.default_partition == "aws-cpu"
    assert settings.holds.buffer == Decimal("1.5")
    assert settings.advisor.timeout_ms == 200
    assert settings.partitions["aws-cpu"].per_cpu_hour == Decimal("0.0425")
    assert settings.partition("local") is None
    assert settings.allocations.process_interval_seconds == 900
    # A socket folder stays a libpq parameter.
    assert settings.database.url == (
        "postgresql+psycopg://asbb@/asbb?host=%2Fvar%2Frun%2Fpostgresql"
    )


def test_key_value_dsns_reach_psycopg_as_written() -> None:
    """The converted URL gives psycopg the same parameters libpq would have read."""
    cases = {
        "host=db port=5433 user=asbb password='it\\'s s3cret' dbname=asbb sslmode=verify-full": {
            "host": "db",
            "port": 5433,
            "user": "asbb",
            "password": "it's s3cret",
            "dbname": "asbb",
            "sslmode": "verify-full",
        },
        "host=/run/postgresql dbname=asbb": {"host": "/run/postgresql", "dbname": "asbb"},
    }
    engine = create_engine("postgresql+psycopg://")
    for dsn, expected in cases.items():
        url = postgres_url_from_dsn(dsn)
        _, params = engine.dialect.create_connect_args(make_url(url))
        params.pop("context", None)  # psycopg's adapters, not a connection parameter
        assert params == expected, url
    with pytest.raises(ValueError, match="key=value"):
        postgres_url_from_dsn("host='unclosed")


# ---------------------------------------------------------------- /etc/asbb


def test_system_yaml_is_read_and_toml_wins_when_both_exist(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    etc = tmp_path / "etc"  # where _clean_env moved /etc/asbb
    (etc / "config.yaml").write_text("service:\n  listen_addr: ':8080'\n", "utf-8")
    with caplog.at_level(logging.WARNING, logger="asbb.settings"):
        assert load_settings().daemon.port == 8080
    assert notices(caplog) == []

    (etc / "config.toml").write_text("[daemon]\nport = 8771\n", "utf-8")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="asbb.settings"):
        assert load_settings().daemon.port == 8771
    said = notices(caplog)
    assert len(said) == 1
    assert f"{etc / 'config.toml'} and {etc / 'config.yaml'} both exist" in said[0]
    assert "TOML wins" in said[0]
