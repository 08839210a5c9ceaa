"""The original tool's settings (aws-slurm-burst-budget): its /etc/asbb/config.yaml and its
``ASBB_X_Y`` environment variables, mapped onto asbb's settings.

tests/fixtures/original/config.yaml holds every key of the original's example configuration,
at its default values.
"""

from __future__ import annotations

import json
import logging
import os
import re
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
    tls = tmp_path / "tls.yaml"
    tls.write_text("service:\n  tls_enabled: true\n", "utf-8")
    env |= {"ASBB_CONFIG": str(tls)}
    done = subprocess.run(
        [str(asbb), "config", "validate"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 1
    assert "service.tls_enabled" in done.stderr
    assert str(tls) in done.stderr
    assert "plain HTTP" in done.stderr
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
        ("ASBB_DATABASE_DRIVER", "mysql", ("database", "pool_size"), 10),
        (
            "ASBB_DATABASE_DSN",
            "asbb:p@ss@tcp(db.example.org:3307)/asbb?parseTime=true&charset=utf8mb4",
            ("database", "url"),
            "mysql+pymysql://asbb:p%40ss@db.example.org:3307/asbb",
        ),
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
        (
            "database:\n  urll: 'sqlite:///x'\n",
            "database.urll",
            "no such setting.*did you mean database.url",
        ),
        ("logging:\n  sampling:\n    every: 3\n", "logging.sampling.every", "no such setting"),
        ("holds:\n  bufer: 1.3\n", "holds.bufer", "no such setting.*did you mean holds.buffer"),
        ("partitions:\n  aws:\n    per_cpu_hr: 1\n", "partitions.aws.per_cpu_hr", "no such"),
        ("database:\n  driver: sqlite\n", "database.driver", "postgres"),
        ("database:\n  dsn: 'nonsense'\n", "database.dsn", "not a PostgreSQL DSN"),
        ("database:\n  dsn: 'u@tcp(db:3306)/x?tls=mine'\n", "database.dsn", "registered"),
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


# ---------------------------------------------------------------- every key of the original's

# Every key of the original's internal/config/config.go (its Config struct, viper's names)
# with the default its setDefaults gives (or Go's zero value), as a file would spell it, and
# the two allocations keys of its README.
ORIGINAL_DEFAULTS: dict[str, object] = {
    "service.listen_addr": ":8080",
    "service.read_timeout": "30s",
    "service.write_timeout": "30s",
    "service.shutdown_timeout": "30s",
    "service.tls_enabled": False,
    "service.tls_cert_file": "",
    "service.tls_key_file": "",
    "service.cors_enabled": False,
    "service.cors_origins": ["*"],
    "database.driver": "postgres",
    "database.dsn": "postgresql://asbb@db.example.org/asbb",  # required: no default
    "database.max_open_conns": 25,
    "database.max_idle_conns": 5,
    "database.conn_max_lifetime": "5m",
    "database.migrations_path": "migrations",
    "database.auto_migrate": False,
    "advisor.url": "http://localhost:8081",
    "advisor.api_key": "",
    "advisor.timeout": "30s",
    "advisor.retry_attempts": 3,
    "advisor.retry_delay": "1s",
    "advisor.cache_enabled": True,
    "advisor.cache_ttl": "5m",
    "advisor.headers": {},
    "budget.default_hold_percentage": 1.2,
    "budget.reconciliation_timeout": "24h",
    "budget.min_budget_amount": 0.01,
    "budget.max_budget_amount": 1000000.0,
    "budget.allow_negative_balance": False,
    "budget.auto_recovery_enabled": True,
    "budget.recovery_check_interval": "1h",
    "budget.transaction_retention": "2160h",
    "slurm.bin_path": "/usr/bin",
    "slurm.config_path": "/etc/slurm",
    "slurm.job_monitor_enabled": True,
    "slurm.monitor_interval": "30s",
    "slurm.epilog_script": "",
    "slurm.default_partition": "cpu",
    "logging.level": "info",
    "logging.format": "json",
    "logging.output": "stdout",
    "logging.structured": True,
    "logging.sampling.initial": 100,
    "logging.sampling.thereafter": 100,
    "logging.sampling.tick": "1s",
    "auth.enabled": False,
    "auth.jwt_secret": "",
    "auth.jwt_expiry": "24h",
    "auth.api_key_auth": False,
    "auth.api_keys": [],
    "auth.admin_users": [],
    "metrics.enabled": True,
    "metrics.path": "/metrics",
    "metrics.namespace": "asbb",
    "metrics.subsystem": "budget",
    "metrics.collect_interval": "15s",
    "metrics.prometheus_url": "",
    "integration.asbx_enabled": False,
    "integration.asbx_endpoint": "http://localhost:8082",
    "integration.asbx_timeout": "30s",
    "integration.asbx_api_key": "",
    "integration.asba_enabled": False,
    "integration.asba_endpoint": "http://localhost:8083",
    "integration.asba_timeout": "30s",
    "integration.advisor_enabled": True,
    "integration.advisor_fallback": "SIMPLE",
    "integration.fallback_cost_rate": 0.10,
    "integration.grant_management_enabled": True,
    "integration.burn_rate_analysis_enabled": True,
    "integration.allocation_scheduling_enabled": True,
    "integration.failure_mode": "GRACEFUL",
    "integration.retry_attempts": 3,
    "integration.circuit_breaker_enabled": True,
    "integration.health_check_interval": "60s",
    "allocations.process_interval": "1h",
    "allocations.auto_process": True,
}


def nested(flat: dict[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in flat.items():
        *parents, last = key.split(".")
        where = out
        for part in parents:
            where = where.setdefault(part, {})  # type: ignore[assignment]
        where[last] = value  # type: ignore[index]
    return out


def test_every_original_key_is_mapped_or_ignored_with_a_reason() -> None:
    from asbb_core.settings import _ORIGINAL

    assert set(_ORIGINAL) == set(ORIGINAL_DEFAULTS)
    for key, entry in _ORIGINAL.items():
        assert entry.to is not None or len(entry.why) > 20, key
        if entry.refuse:
            assert entry.to is None, key
            assert entry.why, key


@pytest.mark.parametrize("suffix", [".yaml", ".toml"])
def test_every_original_key_at_its_default_loads_quietly_in_yaml_and_toml(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    suffix: str,
) -> None:
    import tomli_w
    import yaml

    data = nested(ORIGINAL_DEFAULTS)
    path = tmp_path / f"config{suffix}"
    text = yaml.safe_dump(data) if suffix == ".yaml" else tomli_w.dumps(data)
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("ASBB_CONFIG", str(path))
    with caplog.at_level(logging.WARNING, logger="asbb.settings"):
        settings = load_settings()
    # advisor.timeout "30s" is capped to asbb's 5 s, and says so; nothing else is said.
    assert [m.split(": ")[2] for m in notices(caplog)] == ["advisor.timeout"]
    assert (settings.daemon.host, settings.daemon.port) == ("0.0.0.0", 8080)
    assert settings.database.url == "postgresql+psycopg://asbb@db.example.org/asbb"
    assert settings.holds.buffer == Decimal("1.2")
    assert settings.default_partition == "cpu"
    assert settings.allocations.process_interval_seconds == 3600


def test_every_original_variable_at_its_default_is_read_quietly(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from asbb_core.settings import original_variable

    for key, value in ORIGINAL_DEFAULTS.items():
        if isinstance(value, dict):
            continue  # a map has no variable form (viper reads none)
        text = " ".join(value) if isinstance(value, list) else str(value).lower()
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            text = str(value)
        monkeypatch.setenv(original_variable(key), text)
    with caplog.at_level(logging.WARNING, logger="asbb.settings"):
        settings = load_settings()
    assert [m.split(" ")[1] for m in notices(caplog)] == ["ASBB_ADVISOR_TIMEOUT"]
    assert settings.daemon.port == 8080


def test_the_migrating_guide_lists_every_original_key_once() -> None:
    from asbb_core.settings import _ORIGINAL

    guide = (Path(__file__).parents[1] / "docs" / "migrating.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z_.]+)` \| `", guide, flags=re.MULTILINE)
    assert sorted(rows) == sorted(_ORIGINAL)


# ---------------------------------------------------------------- unknown keys and variables


@pytest.mark.parametrize(
    ("text", "field", "hint"),
    [
        ("[holds]\nbufer = 1.3\n", "holds.bufer", "holds.buffer"),
        ("[service]\nlisten_adr = ':80'\n", "service.listen_adr", "service.listen_addr"),
        (
            "[partitions.aws]\nper_cpu_hr = '1'\n",
            "partitions.aws.per_cpu_hr",
            "partitions.aws.per_cpu_hour",
        ),
        ("[asbx]\nspool_directory = '/x'\n", "asbx.spool_directory", None),
        ("holdz = 1\n", "holdz", "holds"),
    ],
)
def test_an_unknown_key_in_toml_names_it_and_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str, field: str, hint: str | None
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("ASBB_CONFIG", str(path))
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert info.value.field == field
    assert info.value.message.startswith(f"{path}: {field}: no such setting in asbb nor in")
    if hint:
        assert f"(did you mean {hint}?)" in info.value.message


def test_a_toml_file_may_hold_the_originals_keys(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        "[service]\nlisten_addr = '127.0.0.1:9100'\n[budget]\ndefault_hold_percentage = 1.5\n"
        "[holds]\ntimeout_hours = '12'\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("ASBB_CONFIG", str(path))
    settings = load_settings()
    assert (settings.daemon.host, settings.daemon.port) == ("127.0.0.1", 9100)
    assert (settings.holds.buffer, settings.holds.timeout_hours) == (Decimal("1.5"), Decimal(12))


@pytest.mark.parametrize(
    ("variable", "says"),
    [
        ("ASBB_BUDGET_DEFAULT_HOLD_PERCENT", "did you mean ASBB_BUDGET_DEFAULT_HOLD_PERCENTAGE"),
        ("ASBB_HOLDS_BUFFER", "did you mean ASBB_HOLDS__BUFFER"),
        ("ASBB_DATABASE_URL", "did you mean ASBB_DATABASE__URL"),
        ("ASBB_SERVICE_LISTEN", "ASBB_SERVICE_LISTEN_ADDR"),
        ("ASBB_BURN_RATE_HEALTHY", "burn_rate is a section of asbb's settings"),
        ("ASBB_HOLDS__BUFER", "holds has no key bufer (did you mean ASBB_HOLDS__BUFFER?)"),
        ("ASBB_PARTITIONS__GPU__PER_CPU_HOR", "did you mean ASBB_PARTITIONS__GPU__PER_CPU_HOUR"),
    ],
)
def test_a_misspelt_setting_variable_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, says: str
) -> None:
    monkeypatch.setenv(variable, "1.5")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert info.value.field == variable
    assert info.value.message.startswith(f"{variable}: no such setting")
    assert says in info.value.message


# ---------------------------------------------------------------- config init, both formats


@pytest.mark.parametrize("name", ["config.toml", "config.yaml", "config.yml"])
def test_config_init_writes_by_extension_refuses_to_overwrite_and_round_trips(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str
) -> None:
    import tomllib

    import yaml
    from typer.testing import CliRunner

    from asbb_tui.cli import app

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    target = tmp_path / "etc" / name
    url = "postgresql+psycopg://asbb@db.example.org/asbb"
    runner = CliRunner()
    done = runner.invoke(app, ["--database", url, "config", "init", "--output", str(target)])
    assert done.exit_code == 0, done.output
    text = target.read_text(encoding="utf-8")
    if name.endswith(".toml"):
        written = tomllib.loads(text)
        assert "# One table per Slurm partition" in text  # the commented TOML
    else:
        written = yaml.safe_load(text)
        with pytest.raises(tomllib.TOMLDecodeError):
            tomllib.loads(text)

    # Never overwritten by accident; --force does.
    target.write_text(text + "\n# mine\n", encoding="utf-8")
    refused = runner.invoke(app, ["config", "init", "--output", str(target)])
    assert refused.exit_code == 1
    assert "--force" in refused.stderr
    assert target.read_text(encoding="utf-8").endswith("# mine\n")
    forced = runner.invoke(
        app, ["--database", url, "config", "init", "--output", str(target), "--force"]
    )
    assert forced.exit_code == 0, forced.output
    assert target.read_text(encoding="utf-8") == text

    # What it wrote loads back as exactly what it says, the same from either format.
    monkeypatch.setenv("ASBB_CONFIG", str(target))
    loaded = load_settings()
    dumped = loaded.model_dump(mode="json")

    def same(wrote: object, got: object, where: str) -> None:
        """Every value the file gives is the loaded setting (numbers compared as decimals:
        money is quoted in the file and shown as text or a number)."""
        if isinstance(wrote, dict):
            assert isinstance(got, dict), where
            for key, value in wrote.items():
                same(value, got[key], f"{where}.{key}")
        else:
            assert _plain(got) == _plain(wrote), where

    same(written, dumped, "settings")
    assert loaded.database.url == url
    assert loaded.asbx.spool_dir == "/var/spool/asbb/costs"
    other = tmp_path / ("other.yaml" if name.endswith(".toml") else "other.toml")
    assert (
        runner.invoke(app, ["--database", url, "config", "init", "--output", str(other)]).exit_code
        == 0
    )
    monkeypatch.setenv("ASBB_CONFIG", str(other))
    assert load_settings().model_dump() == loaded.model_dump()


def _plain(value: object) -> object:
    """A value with numbers as Decimals, whether written as text, an int or a float."""
    if isinstance(value, bool) or value is None or isinstance(value, list | dict):
        return value
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return value
