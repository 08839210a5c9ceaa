"""Settings: one pydantic-settings class made of nested models.

Sources, strongest first: keyword arguments, ``ASBB_*`` environment variables (``__`` nests:
``ASBB_HOLDS__BUFFER=1.5``), the original tool's environment variables (``ASBB_DATABASE_DSN``,
``ASBB_SERVICE_LISTEN_ADDR``, ...), the file named by ``ASBB_CONFIG`` (else
``/etc/asbb/config.toml``, else ``/etc/asbb/config.yaml``), then the defaults below. Invalid
settings raise ``SettingsError`` naming the field and the reason, at start-up, before anything
runs.

The original tool (aws-slurm-burst-budget) read ``/etc/asbb/config.yaml`` and ``ASBB_X_Y``
variables through viper; sites migrating from it keep both. A file, TOML or YAML by its name
(``read_config_file``), may hold asbb's own keys and the original's: each of the original's
keys is mapped onto asbb's (``_ORIGINAL``: every key of its config.go), or, where asbb has no
counterpart, accepted quietly when it holds the original's default, warned about otherwise,
and refused where ignoring it would make asbb less safe than the site asked. A key that is
neither asbb's nor the original's is refused, naming the file and the key; so is a variable
meant as a setting that names none (``original_environment``).
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from asbb_core.values.errors import SettingsError, UnknownPartitionError

SYSTEM_CONFIG = Path("/etc/asbb/config.toml")
"""asbb's own file. The original tool's ``config.yaml`` (or ``.yml``) beside it is read when
this one does not exist."""
YAML_SUFFIXES = (".yaml", ".yml")

log = logging.getLogger("asbb.settings")


def default_database_url() -> str:
    """The embedded default: a SQLite file in the user's data folder."""
    folder = Path(platformdirs.user_data_dir("asbb", appauthor=False))
    return f"sqlite:///{folder / 'asbb.sqlite3'}"


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL and PyMySQL for MySQL / MariaDB whatever scheme the user
    wrote (one SQLAlchemy dialect, ``mysql``, serves both servers)."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    for prefix in ("mysql://", "mariadb://", "mariadb+pymysql://"):
        if url.startswith(prefix):
            return "mysql+pymysql://" + url[len(prefix) :]
    return url


class FailPolicy(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class _Section(BaseModel):
    """A settings section: unknown keys are errors (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid")


class DatabaseSettings(_Section):
    url: str = Field(default_factory=default_database_url)
    """SQLAlchemy URL: ``sqlite:///path``, ``postgresql://user@host/db`` (psycopg 3) or
    ``mysql://user:password@host/db`` (MySQL 8 or MariaDB, through PyMySQL)."""
    pool_size: int = Field(default=10, ge=1, le=200)
    """Connections kept open per process (PostgreSQL)."""
    echo: bool = False
    """Log every SQL statement (debugging only)."""

    @field_validator("url")
    @classmethod
    def _known_backend(cls, url: str) -> str:
        url = normalise_database_url(url.strip())
        if not url.startswith(("sqlite", "postgresql+psycopg://", "mysql+pymysql://")):
            raise ValueError("must be a sqlite:///, postgresql:// or mysql:// URL")
        return url


class HoldSettings(_Section):
    buffer: Decimal = Field(default=Decimal("1.2"), ge=Decimal(1), le=Decimal(10))
    """A hold reserves estimate x buffer, so a job that runs a little long is still covered."""
    timeout_hours: Decimal = Field(default=Decimal(168), gt=0, le=Decimal(24 * 366))
    """Hours after which an unresolved hold expires (beyond the job's own time limit)."""

    @field_validator("buffer", "timeout_hours", mode="before")
    @classmethod
    def _no_float(cls, value: Any) -> Any:
        # TOML and JSON floats are exact enough for a ratio, but go through str to keep digits.
        return str(value) if isinstance(value, float) else value


class ApprovalSettings(_Section):
    """Maker-checker for adjustments (credits, debits, limits, transfers, refunds, releases)."""

    confirm_above: Decimal = Field(default=Decimal("1000"), ge=Decimal(0))
    """Amounts above this need the account name typed to confirm in the console."""
    require_approval: bool = True
    """A second person must approve every movement of money or limits a person makes (the
    front ends turn deposits, limits, one-off allocations and hold voids into requests);
    false moves them at once and lets a requester approve their own (single-administrator
    sites). The request and its approval are journaled either way."""

    @field_validator("confirm_above", mode="before")
    @classmethod
    def _no_float(cls, value: Any) -> Any:
        return str(value) if isinstance(value, float) else value


class PartitionSettings(_Section):
    """How one Slurm partition is priced. Rates are dollars per hour of the resource."""

    budgeted: bool = True
    """False: a local partition; jobs there are not priced or held."""
    per_cpu_hour: Decimal = Decimal(0)
    per_gpu_hour: Decimal = Decimal(0)
    per_gb_hour: Decimal = Decimal(0)
    """Per GB of memory per hour."""
    per_node_hour: Decimal = Decimal(0)
    instance_type: str | None = None
    """An AWS instance type; with ``instance_hourly_price`` it prices per node-hour."""
    instance_hourly_price: Decimal | None = None
    fail_policy: FailPolicy = FailPolicy.CLOSED
    """The partition's intended policy when the daemon does not answer: accept (open) or
    reject (closed). slurmctld's plugin cannot read this file: it acts on ``policy.<partition>``
    in its own asbb_plugin.conf, which must say the same (plugin/README.md)."""

    @field_validator(
        "per_cpu_hour",
        "per_gpu_hour",
        "per_gb_hour",
        "per_node_hour",
        "instance_hourly_price",
        mode="before",
    )
    @classmethod
    def _rate(cls, value: Any) -> Any:
        if isinstance(value, float):
            value = str(value)
        return value

    @field_validator(
        "per_cpu_hour", "per_gpu_hour", "per_gb_hour", "per_node_hour", "instance_hourly_price"
    )
    @classmethod
    def _not_negative(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and (not value.is_finite() or value < 0):
            raise ValueError("a rate must be a finite amount >= 0")
        return value

    @model_validator(mode="after")
    def _instance_pair(self) -> PartitionSettings:
        if (self.instance_type is None) != (self.instance_hourly_price is None):
            raise ValueError("instance_type and instance_hourly_price go together")
        return self


class DaemonSettings(_Section):
    host: str = "127.0.0.1"
    """Address asbb-daemon listens on."""
    port: int = Field(default=8770, ge=1, le=65535)
    """Port asbb-daemon listens on."""
    workers: int = Field(default=1, ge=1, le=64)
    """Worker processes (each is stateless; balance decisions are made under row locks)."""
    allow_local_plugin: bool = False
    """Let calls from 127.0.0.1/::1 act as the plugin without a token (check, reconcile)."""
    public_account_metrics: bool = False
    """Show every account's limit, charged and held on ``/metrics`` without a token. Off:
    anyone who reaches the port sees only the totals; per-account series need a reader or
    admin token. Turn on only where the metrics port is reachable by administrators alone."""
    write_rate_per_minute: int = Field(default=600, ge=0)
    """Write requests per minute per admin/reader token (0: no limit)."""
    plugin_rate_per_minute: int = Field(default=0, ge=0)
    """Requests per minute per plugin token (0: no limit; slurmctld must not be throttled)."""
    token_cache_seconds: int = Field(default=5, ge=0, le=300)
    """How long a verified token is trusted before it is looked up again (revocation delay)."""
    sweep_interval_seconds: int = Field(default=60, ge=0)
    """How often the daemon expires holds past their timeout (0: never)."""
    log_level: str = "info"
    """debug, info, warning or error."""
    spool_dir: str = "/var/spool/asbb"
    """Where the epilog spools reconciles it could not deliver (replayed by the daemon)."""
    spool_replay_seconds: int = Field(default=30, ge=0)
    """How often the daemon replays the spool (0: never; run 'asbb reconcile --replay')."""
    max_request_bytes: int = Field(default=1 << 20, ge=1024, le=64 << 20)
    """A request body larger than this is refused with 413 before it is read (1 KiB to 64 MiB)."""
    spool_max_file_bytes: int = Field(default=1 << 20, ge=1024, le=64 << 20)
    """A spooled request larger than this is moved to ``rejected/`` unread (1 KiB to 64 MiB)."""
    spool_incomplete_wait_seconds: int = Field(default=60, ge=0)
    """How long a spooled file whose JSON stops short is waited for (a writer still writing)
    before it is moved to ``rejected/`` as truncated."""
    recovery_interval_seconds: int = Field(default=300, ge=0)
    """How often the daemon resolves orphan holds from sacct (0: never; 'asbb recover')."""
    recovery_grace_seconds: int = Field(default=600, ge=0)
    """How long after a job ends recovery waits for its own reconcile before acting."""

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.lower()
        if value not in ("debug", "info", "warning", "error"):
            raise ValueError("must be debug, info, warning or error")
        return value


class AdvisorSettings(_Section):
    """aws-slurm-burst-advisor: asked for estimates when a URL is set; the local model is the
    fallback whenever it is slow, failing or its circuit breaker is open."""

    url: str = ""
    """Base URL of the advisor ('' = not used)."""
    token: str = ""
    """Bearer token for the advisor, if it needs one."""
    timeout_ms: int = Field(default=300, ge=10, le=5000)
    """The advisor sits on slurmctld's critical path: keep this short."""
    cache_ttl_seconds: int = Field(default=60, ge=0)
    failure_threshold: int = Field(default=5, ge=1)
    """Consecutive failures that open the circuit breaker."""
    reset_seconds: int = Field(default=30, ge=1)
    """How long the breaker stays open before one trial call."""


class AsbxSettings(_Section):
    """aws-slurm-burst's cost exports: ``job-<id>-asbb-reconciliation.json`` files."""

    spool_dir: str = "/var/spool/asbb/costs"
    """Where aws-slurm-burst writes them (the epilog's ``asbx_dir`` too); the daemon ingests
    each once, then moves it to ``processed/`` (or ``rejected/`` with a ``.reason`` file).
    The default is aws-slurm-burst's own name for asbb's folder (its ``asbb.reconciliation_dir``
    setting); its export command writes to ``--output-dir`` (``/var/spool/asba/learning``
    unless given), so run it with ``--output-dir`` naming this folder."""
    interval_seconds: int = Field(default=30, ge=0)
    """How often the daemon looks for new files (0: never; run 'asbb asbx ingest')."""
    link_wait_seconds: int = Field(default=3600, ge=0)
    """How long a file whose job's hold cannot be found yet (sacct unreachable, the job not
    yet reconciled) is retried before it is moved to ``rejected/`` with the reason."""
    max_file_bytes: int = Field(default=1 << 20, ge=1024, le=64 << 20)
    """An export larger than this is moved to ``rejected/`` unread (1 KiB to 64 MiB)."""
    settle_seconds: int = Field(default=2, ge=0, le=3600)
    """A file changed less than this long ago may still be being written: it waits."""
    incomplete_wait_seconds: int = Field(default=60, ge=0)
    """How long a file whose JSON stops short (its writer paused mid-file) is waited for
    before it is moved to ``rejected/`` as truncated."""


class AllocationSettings(_Section):
    """Recurring allocations (instalments paid into accounts on a schedule)."""

    process_interval_seconds: int = Field(default=300, ge=0)
    """How often the daemon credits due instalments (0: never; 'asbb allocations process')."""


class BurnRateSettings(_Section):
    """Where the health score's bands begin (the score is 0-100; see
    asbb_core.analytics.burnrate).
    """

    healthy_from: int = Field(default=75, ge=1, le=100)
    """A score at or above this is healthy."""
    concern_from: int = Field(default=50, ge=1, le=100)
    """A score at or above this (and below healthy) is a concern."""
    warning_from: int = Field(default=25, ge=1, le=100)
    """A score at or above this (and below concern) is a warning; below it is critical."""

    @model_validator(mode="after")
    def _descending(self) -> BurnRateSettings:
        if not self.healthy_from > self.concern_from > self.warning_from:
            raise ValueError("bands must descend: healthy_from > concern_from > warning_from")
        return self


class AlertSettings(_Section):
    """What raises an alert, and where alerts are delivered."""

    evaluate_interval_seconds: int = Field(default=300, ge=0)
    """How often the daemon evaluates alert conditions (0: never; 'asbb alerts evaluate')."""
    usage_thresholds: list[int] = Field(default_factory=lambda: [50, 80, 90, 100])
    """Percentages of an account's limit used (charged) that raise an alert."""
    variance_percent: Decimal = Field(default=Decimal(25), gt=0)
    """Spending this much above the expected daily spend (30-day burn rate) raises an alert."""
    exhaustion_days: int = Field(default=0, ge=0)
    """Alert when the projected exhaustion date is before the end date by more than this."""
    grant_period_notice_days: int = Field(default=30, ge=0)
    """Alert when a grant's budget period ends within this many days with money left ..."""
    grant_period_left_percent: Decimal = Field(default=Decimal(10), ge=0, le=100)
    """... and more than this percentage of the period's budget is still unspent."""
    stuck_hold_hours: int = Field(default=48, ge=1)
    """A hold open longer than this (or past its timeout) is stuck."""
    spool_backlog: int = Field(default=100, ge=1)
    """Spooled reconciles waiting in the spool folder that raise an alert."""
    webhook_url: str = ""
    """POST each alert (opened and resolved) as JSON here ('' = no webhook)."""
    webhook_timeout_seconds: Decimal = Field(default=Decimal(5), gt=0, le=60)
    smtp_host: str = ""
    """Send each alert by email through this SMTP server ('' = no email)."""
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = "asbb@localhost"
    smtp_to: list[str] = Field(default_factory=list)
    """Recipients of alert emails."""
    delivery_interval_seconds: int = Field(default=30, ge=0)
    """How often the daemon sends pending deliveries (0: never; 'asbb alerts deliver')."""
    delivery_attempts: int = Field(default=8, ge=1, le=100)
    """Attempts before a delivery is marked failed (the wait doubles after each failure)."""
    retry_seconds: int = Field(default=30, ge=1)
    """The wait after the first failed attempt."""

    @field_validator("usage_thresholds")
    @classmethod
    def _thresholds(cls, value: list[int]) -> list[int]:
        if any(not 0 < v <= 1000 for v in value):
            raise ValueError("each threshold is a percentage between 1 and 1000")
        return sorted(set(value))


class CalibrationSettings(_Section):
    """Learning from actual/estimated cost per account and partition."""

    enabled: bool = False
    """Scale new estimates by the learned ratio (reported either way; off by default)."""
    window_days: int = Field(default=90, ge=1, le=3660)
    """Posted holds from this many days back are learned from."""
    min_jobs: int = Field(default=20, ge=1)
    """A ratio is used only once this many jobs back it."""
    lower: Decimal = Field(default=Decimal("0.5"), gt=0, le=1)
    """The smallest factor applied (bounded, so one odd month cannot zero the estimates)."""
    upper: Decimal = Field(default=Decimal(2), ge=1, le=10)
    """The largest factor applied."""
    refresh_seconds: int = Field(default=300, ge=0)
    """How long learned factors are cached by the daemon before being read again."""


class ConsoleSettings(_Section):
    """The console (``asbb`` without a command)."""

    refresh_seconds: float = Field(default=10.0, ge=1.0, le=3600.0)
    """How often the dashboard re-reads the figures."""
    keys: dict[str, str] = Field(default_factory=dict)
    """Rebound keys: an action's id (listed by ``?`` in the console) -> keys, comma-separated,
    e.g. ``{ "approvals-approve" = "A", "quit" = "ctrl+q" }``."""

    @field_validator("keys")
    @classmethod
    def _keys(cls, value: dict[str, str]) -> dict[str, str]:
        for action, keys in value.items():
            if not keys.strip() or any(not k.strip() for k in keys.split(",")):
                raise ValueError(f"{action!r}: keys must be one or more key names, comma-separated")
        return value


AWS_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}", re.ASCII)
"""A region or an instance type as AWS spells them (lower case), e.g. us-east-1, c6i.xlarge."""


def _aws_name(value: str, what: str) -> str:
    """A region or instance type, lower-cased: requests are lower-cased too, then compared
    exactly."""
    name = value.strip().lower() if value.isascii() else ""  # the Kelvin sign lowers to "k"
    if not AWS_NAME.fullmatch(name):
        raise ValueError(
            f"{value[:64]!r} is not an AWS {what} (letters, digits, '.', '_', '-'; at most 64)"
        )
    return name


class InstancePrice(_Section):
    """What one instance type costs in one region, in dollars per instance-hour, by capacity
    model (the three names aws-slurm-burst sends)."""

    on_demand: Decimal | None = None
    spot: Decimal | None = None
    """Without it, spot is held at the on-demand price: an upper bound on spot, so a fleet's
    hold is never too small (the real cost is charged at reconcile)."""
    reserved: Decimal | None = None
    """Without it, reserved is priced as on-demand, as the original tool prices it."""

    @field_validator("on_demand", "spot", "reserved", mode="before")
    @classmethod
    def _exact(cls, value: Any) -> Any:
        return str(value) if isinstance(value, float) else value

    @field_validator("on_demand", "spot", "reserved")
    @classmethod
    def _not_negative(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and (not value.is_finite() or value < 0):
            raise ValueError("a price must be a finite amount >= 0")
        return value

    @model_validator(mode="after")
    def _some_price(self) -> InstancePrice:
        if self.on_demand is None and self.spot is None and self.reserved is None:
            raise ValueError("give at least one of on_demand, spot, reserved")
        return self


class FleetSettings(_Section):
    """Fleet admission (``POST /api/v1/budget/admit``): the resume step of a cloud-bursting
    Slurm (aws-slurm-burst) asks before it launches ``count`` instances."""

    default_hours: Decimal = Field(default=Decimal(1), gt=0, le=Decimal(24 * 366))
    """Hours of the fleet's spend an admission holds when the request names none (1: the
    original tool's one-hour rate reservation)."""
    prices: dict[str, dict[str, InstancePrice]] = Field(default_factory=dict)
    """Region -> instance type -> its prices. An instance type, region or capacity model
    without a price here is refused (fail safe, as an unknown partition is)."""

    @field_validator("default_hours", mode="before")
    @classmethod
    def _exact(cls, value: Any) -> Any:
        return str(value) if isinstance(value, float) else value

    @field_validator("prices")
    @classmethod
    def _names(
        cls, value: dict[str, dict[str, InstancePrice]]
    ) -> dict[str, dict[str, InstancePrice]]:
        out: dict[str, dict[str, InstancePrice]] = {}
        for region, types in value.items():
            key = _aws_name(region, "region")
            if key in out:
                raise ValueError(f"region {key!r} is listed twice")
            out[key] = {}
            for instance_type, price in types.items():
                name = _aws_name(instance_type, "instance type")
                if name in out[key]:
                    raise ValueError(f"instance type {name!r} is listed twice in {key}")
                out[key][name] = price
        return out


class Settings(BaseSettings):
    """All of asbb's settings."""

    model_config = SettingsConfigDict(
        env_prefix="ASBB_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    holds: HoldSettings = Field(default_factory=HoldSettings)
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    advisor: AdvisorSettings = Field(default_factory=AdvisorSettings)
    asbx: AsbxSettings = Field(default_factory=AsbxSettings)
    approvals: ApprovalSettings = Field(default_factory=ApprovalSettings)
    allocations: AllocationSettings = Field(default_factory=AllocationSettings)
    burn_rate: BurnRateSettings = Field(default_factory=BurnRateSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    calibration: CalibrationSettings = Field(default_factory=CalibrationSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    partitions: dict[str, PartitionSettings] = Field(default_factory=dict)
    """Partition name -> pricing. A partition not listed is refused (fail safe); list local
    partitions with ``budgeted = false``."""
    default_partition: str | None = None
    """The partition Slurm uses when a job names none (the plugin sends nil for it)."""
    fleet: FleetSettings = Field(default_factory=FleetSettings)

    @field_validator("partitions")
    @classmethod
    def _partition_names(cls, value: dict[str, PartitionSettings]) -> dict[str, PartitionSettings]:
        for name in value:
            if not name or any(c.isspace() or c == "," for c in name):
                raise ValueError(f"{name!r} is not a valid Slurm partition name")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [
            init_settings,
            env_settings,
            _DataSource(settings_cls, original_environment(os.environ)[0]),
        ]
        path = config_path()
        if path is not None:  # TOML or YAML by its name; either may hold the original's keys
            sources.append(_DataSource(settings_cls, read_config_file(path)[0]))
        return tuple(sources)

    def partition(self, name: str | None) -> PartitionSettings | None:
        """The pricing for a partition; None for one marked ``budgeted = false``. ``None``
        means the default partition. Names compare exactly, as Slurm's do (``AWS`` and
        ``"aws "`` are not ``aws``).

        Fails safe: a partition the settings do not name (or no partition and no
        ``default_partition``) raises UnknownPartitionError, naming what to add, so a typo or
        a new partition refuses jobs instead of running them unpriced."""
        key = name or self.default_partition
        if key is None:
            raise UnknownPartitionError(
                "partition: the job names no partition and default_partition is not set; "
                "set default_partition in asbb's settings to Slurm's default partition",
                field="partition",
                details={"setting": "default_partition"},
            )
        found = self.partitions.get(key)
        if found is None:
            raise UnknownPartitionError(
                f"partition: {key!r} is not in asbb's settings; add [partitions.{key}] with "
                "its prices (or budgeted = false for a local partition)",
                field="partition",
                details={"partition": key, "setting": f"partitions.{key}"},
            )
        return found if found.budgeted else None


def _system_configs() -> tuple[Path, ...]:
    """Where settings are looked for without ``ASBB_CONFIG``, first found wins: asbb's TOML,
    then the original tool's YAML beside it (derived at call time, so tests that move
    SYSTEM_CONFIG move both)."""
    return (SYSTEM_CONFIG, *(SYSTEM_CONFIG.with_suffix(suffix) for suffix in YAML_SUFFIXES))


def config_path() -> Path | None:
    """The config file in force: ``ASBB_CONFIG`` if set (it must exist; a ``.yaml``/``.yml``
    name is read as YAML, anything else as TOML), else ``/etc/asbb/config.toml``, else the
    original tool's ``/etc/asbb/config.yaml`` (or ``.yml``)."""
    named = os.environ.get("ASBB_CONFIG")
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise SettingsError(f"ASBB_CONFIG: no such file: {path}", field="ASBB_CONFIG")
        return path
    return next((path for path in _system_configs() if path.is_file()), None)


def load_settings(**overrides: Any) -> Settings:
    """Load and validate settings, turning pydantic's errors into one readable SettingsError.

    Each notice of :func:`settings_notices` (an ignored key or variable, two files) is logged
    as a warning on ``asbb.settings`` first, so the CLI prints it on stderr and the daemon
    logs it."""
    for notice in settings_notices():
        log.warning("settings: %s", notice)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(part) for part in err["loc"]) or "settings"
            problems.append(f"{where}: {err['msg']}")
        first_field = ".".join(str(p) for p in exc.errors()[0]["loc"]) if exc.errors() else None
        raise SettingsError(
            "invalid settings: " + "; ".join(problems),
            field=first_field,
            details={"problems": problems},
        ) from None
    except (ValueError, OSError) as exc:  # a TOML file that does not parse
        raise SettingsError(f"invalid settings file: {exc}", field="ASBB_CONFIG") from None


def settings_notices() -> list[str]:
    """What the settings leave out and say so, not as errors: the original tool's keys and
    variables asbb has no counterpart for (set to other than the original's default), ``ASBB_*``
    variables that are nobody's setting, and a config.yaml that a config.toml beside it hides.
    Raises SettingsError for what is refused (the same errors loading would raise)."""
    notices: list[str] = []
    if not os.environ.get("ASBB_CONFIG"):
        found = [path for path in _system_configs() if path.is_file()]
        if len(found) > 1:
            others = " and ".join(str(path) for path in found[1:])
            notices.append(
                f"{found[0]} and {others} both exist: asbb reads {found[0]} only (TOML wins); "
                f"move what {others} still says into it and remove {others}"
            )
    notices += original_environment(os.environ)[1]
    path = config_path()
    if path is not None:
        notices += read_config_file(path)[1]
    return notices


# ---------------------------------------------------------------- the original tool's settings


class _DataSource(PydanticBaseSettingsSource):
    """Settings already read into asbb's shape (a YAML file, the original's variables)."""

    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return self._data


ORIGINAL = "the original tool (aws-slurm-burst-budget)"

_BOOLS = {"1": True, "t": True, "true": True, "0": False, "f": False, "false": False}
_GO_DURATION = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_GO_UNIT = {
    "ns": Decimal("1e-9"),
    "us": Decimal("1e-6"),
    "µs": Decimal("1e-6"),
    "μs": Decimal("1e-6"),
    "ms": Decimal("0.001"),
    "s": Decimal(1),
    "m": Decimal(60),
    "h": Decimal(3600),
}


def go_duration_seconds(value: Any) -> Decimal:
    """A Go duration (``"30s"``, ``"1h30m"``, ``"2160h"``, ``"500ms"``) in seconds, as viper
    read the original's durations. A bare number is refused: viper took it as nanoseconds,
    which no one means."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(
            f'{value!r} is not a duration: write it as Go does, e.g. "30s", "5m" or "1h" '
            "(the original tool read a bare number as nanoseconds)"
        )
    text = value.strip()
    if text in ("0", "+0"):
        return Decimal(0)
    body = text[1:] if text.startswith("+") else text
    if not body or _GO_DURATION.sub("", body) != "":
        raise ValueError(f'{value!r} is not a duration such as "30s", "5m" or "1h30m"')
    return sum(
        (Decimal(number) * _GO_UNIT[unit] for number, unit in _GO_DURATION.findall(body)),
        Decimal(0),
    )


def _parse(kind: str, value: Any) -> Any:
    """The original's value as the kind its Go struct had; a string (an environment
    variable) is converted as viper converted it."""
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _BOOLS:
            return _BOOLS[value.strip().lower()]
        raise ValueError(f"{value!r} is not true or false")
    if kind == "int":
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a whole number")
        try:
            return int(str(value).strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a whole number") from None
    if kind == "number":
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a number")
        try:
            number = Decimal(str(value).strip())  # through str: a YAML float keeps its digits
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a number") from None
        if not number.is_finite():
            raise ValueError(f"{value!r} is not a finite number")
        return number
    if kind == "duration":
        return go_duration_seconds(value)
    if kind == "list":
        if isinstance(value, str):
            return value.split()  # viper splits a variable's value on white space
        if isinstance(value, list):
            return [str(item) for item in value]
        raise ValueError(f"{value!r} is not a list")
    if kind == "map":
        if not isinstance(value, dict):
            raise ValueError(f"{value!r} is not a mapping of names to values")
        return {str(k): str(v) for k, v in value.items()}
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ValueError(f"{value!r} is not a string")
    return str(value)


def _whole_seconds(seconds: Decimal) -> int:
    if seconds != seconds.to_integral_value():
        raise ValueError(f"{seconds}s is not a whole number of seconds, as asbb's setting is")
    return int(seconds)


Note = Callable[[str], None]


def _listen_addr(value: str, note: Note) -> dict[str, Any]:
    # Go's net.Listen: "host:port"; an empty host (":8080") listens on every interface.
    host, colon, port = value.strip().rpartition(":")
    if not colon or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f'{value!r} is not host:port (e.g. ":8080" or "127.0.0.1:8080")')
    host = host.strip("[]") or "0.0.0.0"
    return {"daemon": {"host": host, "port": int(port)}}


def _driver(value: str, note: Note) -> dict[str, Any]:
    # The DSN's own form says which server it names (``_dsn``): nothing to set here.
    driver = value.strip().lower()
    if driver in ("postgres", "postgresql", "mysql"):
        return {}
    raise ValueError(f"{value!r} is not a database driver asbb has: postgres, mysql")


def is_mysql_dsn(dsn: str) -> bool:
    """Whether ``dsn`` is in Go's MySQL form (``user:pass@tcp(host:3306)/db?parseTime=true``):
    a ``/`` and no ``=`` before its query, where libpq's key=value form always has one."""
    text = dsn.strip()
    if text.startswith(("mysql://", "mariadb://", "mysql+pymysql://")):
        return True
    head = text.split("?", 1)[0]
    return "/" in head and "=" not in head and "://" not in head


# go-sql-driver/mysql parameters that mean nothing to asbb, which always talks utf8mb4 in UTC
# and parses times itself.
_GO_MYSQL_QUIET = {"parsetime", "charset", "collation", "loc", "multistatements"}
_GO_MYSQL_TIMEOUTS = {
    "timeout": "connect_timeout",
    "readtimeout": "read_timeout",
    "writetimeout": "write_timeout",
}
_SYSTEM_CAS = "/etc/ssl/certs/ca-certificates.crt"


def mysql_url_from_dsn(dsn: str, note: Note = lambda _: None) -> str:
    """The original's MySQL DSN (go-sql-driver's
    ``[user[:password]@][tcp[(host:port)]|unix(socket)]/dbname[?param=value&...]``, or a
    ``mysql://`` URL) as asbb's URL. ``note`` hears of parameters asbb does not use."""
    text = dsn.strip()
    if "://" in text:
        return normalise_database_url(text)
    from urllib.parse import parse_qsl

    from sqlalchemy.engine import URL

    # As go-sql-driver parses it: the database after the last "/" (before any "?"), the
    # credentials before the last "@" in front of it, the password after the first ":".
    main, _, query = text.partition("?")
    before, slash, database = main.rpartition("/")
    if not slash:
        raise ValueError("not a MySQL DSN: no /dbname (user:pass@tcp(host:3306)/dbname)")
    credentials, at, address = before.rpartition("@")
    if not at:
        credentials, address = "", before
    user, _, password = credentials.partition(":")
    match = re.fullmatch(r"(\w*)(?:\((.*)\))?", address)
    if match is None:
        raise ValueError(f"not a MySQL DSN: {address!r} is not tcp(host:port) or unix(path)")
    net, addr = match.group(1) or "tcp", match.group(2) or ""
    params: dict[str, str] = {}
    host: str | None = None
    port: int | None = None
    if net == "unix":
        host, params["unix_socket"] = "localhost", addr or "/var/run/mysqld/mysqld.sock"
    elif net in ("tcp", "tcp4", "tcp6"):
        name, colon, number = (addr or "127.0.0.1:3306").rpartition(":")
        if not colon:
            name, number = addr, "3306"
        if not number.isdigit() or not 1 <= int(number) <= 65535:
            raise ValueError(f"not a MySQL DSN: {addr!r} is not host:port")
        host, port = name.strip("[]") or "127.0.0.1", int(number)
    else:
        raise ValueError(f"not a MySQL DSN: network {net!r} is not tcp or unix")
    for key, value in parse_qsl(query, keep_blank_values=True):
        lower = key.lower()
        if lower == "tls":
            choice = value.lower()
            if choice in ("true", "1"):
                params |= {"ssl_ca": _SYSTEM_CAS, "ssl_check_hostname": "true"}
            elif choice in ("skip-verify", "preferred"):
                params["ssl_check_hostname"] = "false"  # encrypted, the certificate unchecked
            elif choice not in ("false", "0"):
                raise ValueError(
                    f"tls={value}: a TLS configuration registered in the original's code; "
                    "give database.url with ssl_ca=, ssl_cert=, ssl_key= instead"
                )
        elif lower in _GO_MYSQL_TIMEOUTS:
            seconds = go_duration_seconds(value)
            params[_GO_MYSQL_TIMEOUTS[lower]] = str(max(1, int(seconds)))
        elif lower not in _GO_MYSQL_QUIET:
            note(f"ignored: asbb has no counterpart for the DSN parameter {key}")
    url = URL.create(
        "mysql+pymysql",
        username=user or None,
        password=password or None,
        host=host,
        port=port,
        database=database or None,
        query=params,
    )
    return url.render_as_string(hide_password=False)


def postgres_url_from_dsn(dsn: str) -> str:
    """The original's PostgreSQL DSN, a URL (``postgresql://u:p@h/db?sslmode=disable``) or
    libpq's key=value form (``host=h user=u password=p dbname=db``), as asbb's URL."""
    text = dsn.strip()
    if text.startswith(("postgres://", "postgresql://")):
        return normalise_database_url(text)
    if "=" not in text:
        raise ValueError(
            "not a PostgreSQL DSN: give a postgresql:// URL or libpq's key=value form "
            "(host=... user=... dbname=...), or for MySQL go-sql-driver's form "
            "(user:password@tcp(host:3306)/dbname)"
        )
    # libpq's own parser (quoting, escapes), then SQLAlchemy's URL (percent-encoding).
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict
    from sqlalchemy.engine import URL

    try:
        params = {k: str(v) for k, v in conninfo_to_dict(text).items()}
    except ProgrammingError as exc:
        raise ValueError(f"not a valid key=value DSN: {str(exc).strip()}") from None
    user, password, dbname = params.pop("user", None), params.pop("password", None), None
    dbname = params.pop("dbname", None)
    host, port = params.get("host"), params.get("port")
    # A TCP host and port go in the URL; a socket folder or a host list stays in the query.
    if host and "/" not in host and "," not in host and (port is None or port.isdigit()):
        params.pop("host")
        if port is not None:
            params.pop("port")
    else:
        host = port = None
    url = URL.create(
        "postgresql+psycopg",
        username=user,
        password=password,
        host=host,
        port=int(port) if port else None,
        database=dbname,
        query=params,
    )
    return url.render_as_string(hide_password=False)


def _dsn(value: str, note: Note) -> dict[str, Any]:
    if is_mysql_dsn(value):
        return {"database": {"url": mysql_url_from_dsn(value, note)}}
    return {"database": {"url": postgres_url_from_dsn(value)}}


def _max_open_conns(value: int, note: Note) -> dict[str, Any]:
    if value < 1:
        raise ValueError("must be 1 or more: asbb always bounds its connections")
    # asbb opens up to pool_size, and as many again under load: stay within the cap.
    return {"database": {"pool_size": min(200, max(1, value // 2))}}


def _hold_percentage(value: Decimal, note: Note) -> dict[str, Any]:
    # The original holds estimate * default_hold_percentage (1.2 = a 20% buffer): a multiplier,
    # the same as holds.buffer, not a percentage.
    if not Decimal(1) <= value <= Decimal(10):
        raise ValueError(
            f"{value} is outside 1 to 10: it is a multiplier (1.2 holds the estimate plus 20%), "
            "as holds.buffer is; 120 would hold 120 times the estimate"
        )
    return {"holds": {"buffer": value}}


def _reconciliation_timeout(value: Decimal, note: Note) -> dict[str, Any]:
    if value <= 0:
        raise ValueError("must be more than 0s")
    # The original released an unreconciled hold once it was twice this old.
    return {"holds": {"timeout_hours": value * 2 / Decimal(3600)}}


def _advisor_timeout(value: Decimal, note: Note) -> dict[str, Any]:
    ms = int(value * 1000)
    if ms < 10:
        raise ValueError("must be at least 10ms")
    if ms > 5000:
        note(
            f"advisor.timeout_ms is {ms} capped to 5000: the advisor is asked while slurmctld "
            "waits, and asbb prices from the partitions' rates when it is slow"
        )
        ms = 5000
    return {"advisor": {"timeout_ms": ms}}


def _log_level(value: str, note: Note) -> dict[str, Any]:
    # zerolog's levels onto asbb's four.
    level = {"warn": "warning", "trace": "debug", "fatal": "error", "panic": "error"}.get(
        value.strip().lower(), value.strip().lower()
    )
    if level not in ("debug", "info", "warning", "error"):
        raise ValueError(f"{value!r} is not debug, info, warn or error")
    return {"daemon": {"log_level": level}}


def _to(*path: str, convert: Callable[[Any], Any] = lambda v: v) -> Callable[[Any, Note], Any]:
    """A key that maps onto one of asbb's, its value converted."""

    def apply(value: Any, note: Note) -> dict[str, Any]:
        out: dict[str, Any] = {path[-1]: convert(value)}
        for part in reversed(path[:-1]):
            out = {part: out}
        return out

    return apply


def _when_off(*targets: tuple[str, str, Any]) -> Callable[[Any, Note], Any]:
    """An on/off switch: off sets asbb's settings (an interval to 0, a URL to ''); on leaves
    them as the rest of the settings say."""

    def apply(value: bool, note: Note) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if not value:
            for section, key, off in targets:
                out.setdefault(section, {})[key] = off
        return out

    return apply


@dataclass(frozen=True)
class _OriginalKey:
    """One key of the original tool's config.yaml (its viper key, and ``ASBB_`` + the key in
    capitals with ``_`` for ``.`` as its environment variable)."""

    kind: str
    """str, bool, int, number, duration, list or map: its Go type."""
    default: Any = None
    """The original's default, parsed: a key at its default asks for nothing, so a key asbb
    has no counterpart for is accepted quietly there."""
    to: Callable[[Any, Note], dict[str, Any]] | None = None
    """Maps the value onto asbb's settings; None: asbb has no such setting."""
    why: str = ""
    """Why asbb has no such setting, and what it does instead."""
    refuse: bool = False
    """Without a counterpart, a value other than the default is an error (ignoring it would
    leave asbb less safe than the site asked), not a warning."""
    last: bool = False
    """Applied after the other keys: an on/off switch overrides the interval beside it."""
    quiet: Callable[[Any], bool] | None = None
    """Other values that ask for nothing asbb does not do (accepted quietly too)."""


_NO_RETRY = (
    "asbb does not retry the advisor: its circuit breaker (advisor.failure_threshold, "
    "advisor.reset_seconds) stops asking it, and the partitions' rates price the job"
)
_NO_ASBX_CALLS = (
    "asbb does not call aws-slurm-burst: it reads its job-<id>-asbb-reconciliation.json exports "
    "from asbx.spool_dir"
)
_TOKENS = (
    "asbb authenticates every call with its own tokens (asbb token create); the original's "
    "JWTs and API keys are not accepted"
)
_LOGS = "asbb-daemon logs every event as one JSON line on stderr (daemon.log_level sets how many)"
_METRICS = (
    "asbb-daemon serves Prometheus metrics at /metrics under fixed asbb_* names (totals without "
    "a token; daemon.public_account_metrics)"
)

_ORIGINAL: dict[str, _OriginalKey] = {
    # service
    "service.listen_addr": _OriginalKey("str", ":8080", _listen_addr),
    "service.read_timeout": _OriginalKey(
        "duration", Decimal(30), why="asbb-daemon (uvicorn) has no read timeout setting"
    ),
    "service.write_timeout": _OriginalKey(
        "duration", Decimal(30), why="asbb-daemon (uvicorn) has no write timeout setting"
    ),
    "service.shutdown_timeout": _OriginalKey(
        "duration", Decimal(30), why="asbb-daemon finishes the requests under way on SIGTERM"
    ),
    "service.tls_enabled": _OriginalKey(
        "bool",
        False,
        why="asbb-daemon serves plain HTTP: put TLS in front of it (a reverse proxy), or keep "
        "it on 127.0.0.1 and a private network",
        refuse=True,
    ),
    "service.tls_cert_file": _OriginalKey(
        "str", "", why="asbb-daemon serves plain HTTP (see service.tls_enabled)"
    ),
    "service.tls_key_file": _OriginalKey(
        "str", "", why="asbb-daemon serves plain HTTP (see service.tls_enabled)"
    ),
    "service.cors_enabled": _OriginalKey(
        "bool",
        False,
        why="asbb-daemon sends no CORS headers, so no web page on another origin can call it "
        "(its callers, the plugin, the epilog, the CLI and the console, are not browsers)",
    ),
    "service.cors_origins": _OriginalKey(
        "list", ["*"], why="asbb-daemon sends no CORS headers (see service.cors_enabled)"
    ),
    # database
    "database.driver": _OriginalKey("str", "postgres", _driver),
    "database.dsn": _OriginalKey("str", "", _dsn),
    "database.max_open_conns": _OriginalKey("int", 25, _max_open_conns),
    "database.max_idle_conns": _OriginalKey(
        "int",
        5,
        why="asbb keeps database.pool_size connections open and as many again under load "
        "(database.max_open_conns sets it)",
    ),
    "database.conn_max_lifetime": _OriginalKey(
        "duration", Decimal(300), why="asbb recycles each connection after an hour"
    ),
    "database.migrations_path": _OriginalKey(
        "str",
        "migrations",
        why="asbb's migrations ship inside it: run 'asbb database migrate'",
    ),
    "database.auto_migrate": _OriginalKey(
        "bool",
        False,
        why="asbb-daemon never migrates at start (it refuses a database whose schema is "
        "behind): run 'asbb database migrate' after each upgrade",
    ),
    # advisor
    "advisor.url": _OriginalKey("str", "http://localhost:8081", _to("advisor", "url")),
    "advisor.api_key": _OriginalKey("str", "", _to("advisor", "token")),
    "advisor.timeout": _OriginalKey("duration", Decimal(30), _advisor_timeout),
    "advisor.retry_attempts": _OriginalKey("int", 3, why=_NO_RETRY),
    "advisor.retry_delay": _OriginalKey("duration", Decimal(1), why=_NO_RETRY),
    "advisor.cache_enabled": _OriginalKey(
        "bool", True, _when_off(("advisor", "cache_ttl_seconds", 0)), last=True
    ),
    "advisor.cache_ttl": _OriginalKey(
        "duration",
        Decimal(300),
        _to("advisor", "cache_ttl_seconds", convert=_whole_seconds),
    ),
    "advisor.headers": _OriginalKey(
        "map",
        {},
        why="asbb sends the advisor only its User-Agent and, with advisor.token, "
        "Authorization: Bearer",
        quiet=lambda headers: {name.lower() for name in headers} <= {"user-agent"},
    ),
    # budget
    "budget.default_hold_percentage": _OriginalKey("number", Decimal("1.2"), _hold_percentage),
    "budget.reconciliation_timeout": _OriginalKey(
        "duration", Decimal(86400), _reconciliation_timeout
    ),
    "budget.min_budget_amount": _OriginalKey(
        "number",
        Decimal("0.01"),
        why="asbb bounds no account's limit by a site-wide amount; a second person approves "
        "each change (approvals.require_approval)",
    ),
    "budget.max_budget_amount": _OriginalKey(
        "number",
        Decimal(1000000),
        why="asbb bounds no account's limit by a site-wide amount; a second person approves "
        "each change (approvals.require_approval)",
    ),
    "budget.allow_negative_balance": _OriginalKey(
        "bool",
        False,
        why="asbb never lets a hold exceed the account's available balance (only a job's "
        "cost above its hold, charged after it ran, takes an account below zero)",
        refuse=True,
    ),
    "budget.auto_recovery_enabled": _OriginalKey(
        "bool",
        True,
        _when_off(
            ("daemon", "recovery_interval_seconds", 0), ("daemon", "sweep_interval_seconds", 0)
        ),
        last=True,
    ),
    "budget.recovery_check_interval": _OriginalKey(
        "duration",
        Decimal(3600),
        _to("daemon", "recovery_interval_seconds", convert=_whole_seconds),
    ),
    "budget.transaction_retention": _OriginalKey(
        "duration",
        Decimal(2160 * 3600),
        why="asbb's journal is append-only and never pruned (every total is recomputed from it)",
    ),
    # slurm
    "slurm.bin_path": _OriginalKey(
        "str", "/usr/bin", why="asbb runs squeue and sacct as found on PATH"
    ),
    "slurm.config_path": _OriginalKey(
        "str", "/etc/slurm", why="asbb's Slurm commands find slurm.conf as Slurm does (SLURM_CONF)"
    ),
    "slurm.job_monitor_enabled": _OriginalKey(
        "bool",
        True,
        why="asbb does not poll jobs: the epilog reconciles each as it ends, and recovery "
        "(daemon.recovery_interval_seconds) resolves the rest from sacct",
    ),
    "slurm.monitor_interval": _OriginalKey(
        "duration",
        Decimal(30),
        why="asbb does not poll jobs (see slurm.job_monitor_enabled)",
    ),
    "slurm.epilog_script": _OriginalKey(
        "str",
        "",
        why="asbb's epilog is plugin/epilog_reconcile.py, named by EpilogSlurmctld in "
        "slurm.conf (plugin/README.md)",
    ),
    "slurm.default_partition": _OriginalKey("str", "cpu", _to("default_partition")),
    # logging
    "logging.level": _OriginalKey("str", "info", _log_level),
    "logging.format": _OriginalKey("str", "json", why=_LOGS),
    "logging.output": _OriginalKey("str", "stdout", why=_LOGS),
    "logging.structured": _OriginalKey("bool", True, why=_LOGS),
    "logging.sampling.initial": _OriginalKey("int", 100, why=_LOGS + " (no sampling)"),
    "logging.sampling.thereafter": _OriginalKey("int", 100, why=_LOGS + " (no sampling)"),
    "logging.sampling.tick": _OriginalKey("duration", Decimal(1), why=_LOGS + " (no sampling)"),
    # auth
    "auth.enabled": _OriginalKey("bool", False, why=_TOKENS),
    "auth.jwt_secret": _OriginalKey("str", "", why=_TOKENS),
    "auth.jwt_expiry": _OriginalKey("duration", Decimal(86400), why=_TOKENS),
    "auth.api_key_auth": _OriginalKey("bool", False, why=_TOKENS),
    "auth.api_keys": _OriginalKey("list", [], why=_TOKENS),
    "auth.admin_users": _OriginalKey(
        "list", [], why="asbb's administrators are the holders of admin tokens (asbb token create)"
    ),
    # metrics
    "metrics.enabled": _OriginalKey("bool", True, why=_METRICS),
    "metrics.path": _OriginalKey("str", "/metrics", why=_METRICS),
    "metrics.namespace": _OriginalKey("str", "asbb", why=_METRICS),
    "metrics.subsystem": _OriginalKey("str", "budget", why=_METRICS),
    "metrics.collect_interval": _OriginalKey(
        "duration", Decimal(15), why=_METRICS + ", read when Prometheus scrapes"
    ),
    "metrics.prometheus_url": _OriginalKey("str", "", why=_METRICS + "; nothing is pushed"),
    # integration (optional integrations)
    "integration.asbx_enabled": _OriginalKey("bool", False, why=_NO_ASBX_CALLS),
    "integration.asbx_endpoint": _OriginalKey("str", "http://localhost:8082", why=_NO_ASBX_CALLS),
    "integration.asbx_timeout": _OriginalKey("duration", Decimal(30), why=_NO_ASBX_CALLS),
    "integration.asbx_api_key": _OriginalKey("str", "", why=_NO_ASBX_CALLS),
    "integration.asba_enabled": _OriginalKey(
        "bool", False, why="asbb has no ASBA (Academic Slurm Burst Allocation) integration"
    ),
    "integration.asba_endpoint": _OriginalKey(
        "str", "http://localhost:8083", why="asbb has no ASBA integration"
    ),
    "integration.asba_timeout": _OriginalKey(
        "duration", Decimal(30), why="asbb has no ASBA integration"
    ),
    "integration.advisor_enabled": _OriginalKey(
        "bool", True, _when_off(("advisor", "url", "")), last=True
    ),
    "integration.advisor_fallback": _OriginalKey(
        "str",
        "SIMPLE",
        why="when the advisor does not answer, asbb prices the job from its partition's rates "
        "(partitions.<name>)",
    ),
    "integration.fallback_cost_rate": _OriginalKey(
        "number",
        Decimal("0.10"),
        why="asbb prices from each partition's rates: set partitions.<name>.per_node_hour "
        "(or per_cpu_hour, per_gpu_hour, per_gb_hour)",
    ),
    "integration.grant_management_enabled": _OriginalKey(
        "bool", True, why="grants are always on in asbb"
    ),
    "integration.burn_rate_analysis_enabled": _OriginalKey(
        "bool", True, why="burn rates are always on in asbb"
    ),
    "integration.allocation_scheduling_enabled": _OriginalKey(
        "bool", True, _when_off(("allocations", "process_interval_seconds", 0)), last=True
    ),
    "integration.failure_mode": _OriginalKey(
        "str",
        "GRACEFUL",
        why="when asbb does not answer, the plugin's policy (policy.<partition> in "
        "asbb_plugin.conf) decides; the advisor always falls back to the partitions' rates",
    ),
    "integration.retry_attempts": _OriginalKey("int", 3, why=_NO_RETRY),
    "integration.circuit_breaker_enabled": _OriginalKey(
        "bool", True, why="asbb's advisor client always has its circuit breaker"
    ),
    "integration.health_check_interval": _OriginalKey(
        "duration", Decimal(60), why="asbb asks the advisor only when it prices a job"
    ),
    # allocations: in the original's README (its code never read them)
    "allocations.process_interval": _OriginalKey(
        "duration",
        Decimal(3600),
        _to("allocations", "process_interval_seconds", convert=_whole_seconds),
    ),
    "allocations.auto_process": _OriginalKey(
        "bool", True, _when_off(("allocations", "process_interval_seconds", 0)), last=True
    ),
}
_ORIGINAL_SECTIONS = frozenset(key.split(".")[0] for key in _ORIGINAL)
_ORIGINAL_PREFIXES = frozenset(key.rsplit(".", 1)[0] for key in _ORIGINAL if key.count(".") > 1)


def original_variable(key: str) -> str:
    """The environment variable viper read for one of the original's keys."""
    return "ASBB_" + key.upper().replace(".", "_")


_ORIGINAL_VARIABLES = {original_variable(key): key for key in _ORIGINAL}

# ASBB_* variables of asbb's that are not settings: the CLI's (ASBB_URL ...), the plugin's and
# epilog's config file, the tests'.
OWN_VARIABLES = frozenset(
    {
        "ASBB_CONFIG",
        "ASBB_URL",
        "ASBB_TOKEN",
        "ASBB_TOKEN_FILE",
        "ASBB_ACCOUNT",
        "ASBB_EPILOG_CONFIG",
        "ASBB_PLUGIN_CONF",
        "ASBB_PLUGIN_CONFIG",
        "ASBB_SLURM_KEEP",
        "ASBB_VERIFY_SECONDS",
    }
)
OWN_VARIABLE_PREFIXES = ("ASBB_FUZZ_", "ASBB_TEST_")
_KNOWN_IGNORED = {
    "ASBB_ENV": "the original tool's development/production switch; asbb has none "
    "(daemon.log_level sets how much it logs)",
    "ASBB_ACTOR": "asbb takes a person's identity from the process's user, never from the "
    "environment",
}


def _deep_merge(into: dict[str, Any], more: Mapping[str, Any]) -> None:
    for key, value in more.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = value


def _leaves(data: Mapping[str, Any], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for key, value in data.items():
        if isinstance(value, dict) and value:
            out |= _leaves(value, f"{prefix}{key}.")
        else:
            out.add(f"{prefix}{key}")
    return out


def _map_original(
    found: Mapping[str, Any], label: Callable[[str], str]
) -> tuple[dict[str, Any], list[str]]:
    """The original's keys (dotted, raw values) as asbb's settings, and the notices for the
    keys asbb has no counterpart for. ``label`` names a key where it came from."""
    out: dict[str, Any] = {}
    notices: list[str] = []
    order = list(_ORIGINAL)
    for key in sorted(found, key=lambda k: (_ORIGINAL[k].last, order.index(k))):
        entry = _ORIGINAL[key]
        where = label(key)
        try:
            value = _parse(entry.kind, found[key])
            if entry.to is not None:

                def note(text: str, where: str = where) -> None:
                    notices.append(f"{where}: {text}")

                _deep_merge(out, entry.to(value, note))
                continue
        except ValueError as exc:
            raise SettingsError(f"{where}: {exc}", field=key) from None
        if value == entry.default or (entry.quiet is not None and entry.quiet(value)):
            continue
        if entry.refuse:
            raise SettingsError(
                f"{where}: {found[key]!r} is refused: asbb has no such setting: {entry.why}; "
                "remove the key (or set it to its default) once that suits the site",
                field=key,
            )
        notices.append(f"{where}: ignored: asbb has no such setting: {entry.why}")
    return out, notices


def original_environment(environ: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """The original tool's ``ASBB_X_Y`` variables as asbb's settings, and the notices for
    ``ASBB_*`` variables nobody reads.

    asbb's own ``ASBB_SECTION__KEY`` variables come before these (pydantic-settings reads
    them); a ``__`` variable that names no setting of asbb's is refused (it is meant as an
    asbb setting, and a typo must not be ignored), and so is an ``ASBB_SECTION_...`` name that
    starts with a section of asbb's or of the original's but is no key of either (a misspelt
    ``ASBB_BUDGET_DEFAULT_HOLD_PERCENT``, or asbb's ``ASBB_HOLDS_BUFFER`` with one ``_``).
    Any other ``ASBB_*`` name is a warning, not an error: the environment is inherited by
    everything slurmctld and the shell start, and the original ignored such names too."""
    found = {key: environ[name] for name, key in _ORIGINAL_VARIABLES.items() if name in environ}
    data, notices = _map_original(
        found, lambda key: f"{original_variable(key)} ({key} of the original tool)"
    )
    sections = set(Settings.model_fields)
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith("ASBB_") or upper in _ORIGINAL_VARIABLES:
            continue
        rest = upper[len("ASBB_") :]
        if "__" in rest:
            section = rest.split("__", 1)[0].lower()
            if section not in sections:
                raise SettingsError(
                    f"{name}: no such setting: {section} is not a section of asbb's settings "
                    f"({', '.join(sorted(sections))})",
                    field=name,
                )
            _check_nested_variable(name, rest.lower().split("__"))
            continue
        if rest.lower() in sections or upper in OWN_VARIABLES:
            continue
        if upper.startswith(OWN_VARIABLE_PREFIXES):
            continue
        refused = _misspelt_variable(name, rest.lower())
        if refused is not None:
            raise refused
        why = _KNOWN_IGNORED.get(upper, f"not a setting of asbb's nor of {ORIGINAL}")
        notices.append(f"{name}: ignored: {why}")
    return data, notices


def _check_nested_variable(name: str, parts: list[str]) -> None:
    """``SettingsError`` when ``ASBB_A__B__C`` names no setting of asbb's (the nearest real
    variable suggested)."""
    annotation: Any = Settings
    walked: list[str] = []
    for part in parts:
        fields = _fields_of(annotation)
        if fields:
            if part not in fields:
                close = difflib.get_close_matches(part, sorted(fields), n=1, cutoff=0.75)
                hint = (
                    f" (did you mean ASBB_{'__'.join([*walked, close[0]]).upper()}?)"
                    if close
                    else ""
                )
                where = ".".join(walked) or "asbb's settings"
                raise SettingsError(
                    f"{name}: no such setting: {where} has no key {part}{hint}", field=name
                )
            annotation = fields[part]
        elif get_origin(annotation) is dict:  # a partition's name, a region...
            annotation = get_args(annotation)[1]
        else:
            return  # a value given as JSON: the model validates it
        walked.append(part)


def _misspelt_variable(name: str, rest: str) -> SettingsError | None:
    """The error for ``ASBB_<SECTION>_<KEY>`` whose section is asbb's or the original's but
    whose key is neither's (None when the name starts with no such section)."""
    theirs = {key.split(".", 1)[0] for key in _ORIGINAL}
    ours = set(Settings.model_fields)
    section = max((s for s in theirs | ours if rest.startswith(s + "_")), key=len, default=None)
    if section is None:
        return None
    key = rest[len(section) + 1 :]
    hints: list[str] = []
    if section in ours:
        fields = _fields_of(Settings.model_fields[section].annotation)
        close = difflib.get_close_matches(key, sorted(fields), n=1, cutoff=0.75)
        if close:
            hints.append(
                f"ASBB_{section.upper()}__{close[0].upper()} (asbb's {section}.{close[0]})"
            )
    if section in theirs:
        variables = [v for v, k in _ORIGINAL_VARIABLES.items() if k.startswith(section + ".")]
        close = difflib.get_close_matches(name.upper(), variables, n=1, cutoff=0.75)
        if close:
            hints.append(f"{close[0]} ({_ORIGINAL_VARIABLES[close[0]]} of the original tool)")
    hint = f"; did you mean {' or '.join(hints)}?" if hints else ""
    whose = " and ".join(
        who
        for who, has in (("asbb's", section in ours), ("the original tool's", section in theirs))
        if has
    )
    return SettingsError(
        f"{name}: no such setting: {section} is a section of {whose} settings, but {key} is "
        f"no key of it (asbb's own variables are ASBB_<SECTION>__<KEY>, two underscores){hint}",
        field=name,
    )


def _unknown(where: str, key: str, known: Iterable[str]) -> SettingsError:
    """A key that is neither asbb's nor the original's, named with the file it is in (and the
    nearest real key, when one is close)."""
    name = key.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
    prefix = key[: -len(name)]
    hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
    return SettingsError(
        f"{where}: {key}: no such setting in asbb nor in {ORIGINAL}{hint}", field=key
    )


def _collect_original(key: str, value: Any, found: dict[str, Any], where: str) -> None:
    if key in _ORIGINAL:
        found[key] = value
    elif key in _ORIGINAL_PREFIXES and isinstance(value, dict):
        for sub, inner in value.items():
            _collect_original(f"{key}.{sub}", inner, found, where)
    else:
        section = key.rsplit(".", 1)[0]
        theirs = {k.rsplit(".", 1)[-1] for k in _ORIGINAL if k.rsplit(".", 1)[0] == section}
        field = Settings.model_fields.get(section)
        ours = _fields_of(field.annotation) if field is not None else {}
        raise _unknown(where, key, theirs | set(ours))


def _fields_of(annotation: Any) -> dict[str, Any]:
    """The keys of a section (a settings model, possibly optional): name -> annotation."""
    optional = get_origin(annotation) in (Union, UnionType)
    for candidate in (annotation, *(get_args(annotation) if optional else ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return {name: info.annotation for name, info in candidate.model_fields.items()}
    return {}


def check_known_keys(where: str, annotation: Any, value: Any, key: str = "") -> None:
    """``SettingsError`` naming ``where`` (the file) and the first key of ``value`` that
    asbb's settings model ``annotation`` does not have, at any depth (sections, partitions,
    fleet prices); values themselves are left to the model's validation."""
    if not isinstance(value, Mapping):
        return
    fields = _fields_of(annotation)
    if fields:
        for name, inner in value.items():
            dotted = f"{key}.{name}" if key else str(name)
            if str(name) not in fields:
                raise _unknown(where, dotted, fields)
            check_known_keys(where, fields[str(name)], inner, dotted)
        return
    if get_origin(annotation) is dict:  # name -> a model (partitions, fleet prices)
        item = get_args(annotation)[1]
        for name, inner in value.items():
            check_known_keys(where, item, inner, f"{key}.{name}")


def _load_file(path: Path) -> dict[str, Any]:
    """A settings file's text as data: YAML when its name ends in .yaml or .yml, else TOML."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(
            f"{path}: cannot read: {exc.strerror or exc}", field="ASBB_CONFIG"
        ) from None
    if path.suffix.lower() not in YAML_SUFFIXES:
        import tomllib

        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(
                f"invalid settings file: {path}: not valid TOML: {exc}", field="ASBB_CONFIG"
            ) from None
    import yaml  # type: ignore[import-untyped]  # only for YAML files: keeps start-up light

    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path}: not valid YAML: {exc}", field="ASBB_CONFIG") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: must be a mapping of sections", field="ASBB_CONFIG")
    return raw


def read_config_file(path: Path) -> tuple[dict[str, Any], list[str]]:
    """A settings file, TOML or YAML by its name (asbb's own keys, the original tool's
    config.yaml keys, or both), as asbb's settings, and the notices for what it says that asbb
    does not do.

    A section of both (database, advisor, allocations) may mix the two kinds of key. A key
    that is neither is refused, naming the file and the key; so is one of the original's that
    sets what one of asbb's keys in the same file also sets."""
    raw = _load_file(path)
    ours: dict[str, Any] = {}
    found: dict[str, Any] = {}
    for top, value in raw.items():
        top = str(top)
        field = Settings.model_fields.get(top)
        if top not in _ORIGINAL_SECTIONS:
            if field is None:
                raise _unknown(str(path), top, Settings.model_fields)
            check_known_keys(str(path), field.annotation, value, top)
            ours[top] = value
            continue
        if not isinstance(value, dict):
            raise SettingsError(f"{path}: {top}: must be a mapping of keys", field=top)
        own_keys = _fields_of(field.annotation) if field is not None else {}
        for key, inner in value.items():
            if str(key) in own_keys:
                annotation = own_keys[str(key)]
                check_known_keys(str(path), annotation, inner, f"{top}.{key}")
                ours.setdefault(top, {})[str(key)] = inner
            else:
                _collect_original(f"{top}.{key}", inner, found, str(path))
    mapped, notices = _map_original(found, lambda key: f"{path}: {key}")
    both = _leaves(ours) & _leaves(mapped)
    if both:
        name = sorted(both)[0]
        source = next(k for k in found if name in _leaves(_map_original({k: found[k]}, str)[0]))
        raise SettingsError(
            f"{path}: {source} (the original tool's) and {name} (asbb's) both set {name}: keep one",
            field=name,
        )
    _deep_merge(ours, mapped)
    return ours, notices


def read_yaml_config(path: Path) -> tuple[dict[str, Any], list[str]]:
    """``read_config_file`` (kept under its former name)."""
    return read_config_file(path)


CONFIG_TEMPLATE = """\
# asbb settings. Environment variables override this file: ASBB_<SECTION>__<KEY>,
# e.g. ASBB_HOLDS__BUFFER=1.5. Point ASBB_CONFIG at this file if it is not
# /etc/asbb/config.toml. Money and ratios are quoted so they stay exact decimals.

# The partition Slurm uses when a job names none.
# default_partition = "aws-cpu"

[database]
# sqlite:///path/to/file for a single node, postgresql://user@host/dbname in production.
url = {url}
# Connections kept open per process (PostgreSQL only).
pool_size = 10
# Log every SQL statement (debugging only).
echo = false

[holds]
# A hold reserves estimate x buffer (1 to 10), so a job that runs long is still covered.
buffer = "1.2"
# Hours after which an unresolved hold expires.
timeout_hours = "168"

[daemon]
# Where asbb-daemon listens (the Slurm plugin and the epilog call it).
host = "127.0.0.1"
port = 8770
workers = 1
# Let calls from localhost act as the plugin without a token.
allow_local_plugin = false
# Every account's money on /metrics without a token (off: totals only, unless a token).
public_account_metrics = false
# Write requests per minute per admin/reader token; plugin tokens (0 = no limit).
write_rate_per_minute = 600
plugin_rate_per_minute = 0
# Seconds a verified token is trusted before it is checked again (revocation delay).
token_cache_seconds = 5
# How often holds past their timeout are expired (0 = never).
sweep_interval_seconds = 60
log_level = "info"
# The epilog's spool of undelivered reconciles, replayed every spool_replay_seconds.
spool_dir = "/var/spool/asbb"
spool_replay_seconds = 30
# A request body above this many bytes is refused (413) before it is read.
max_request_bytes = 1048576
# Spooled files are read as hostile: no links, an owner allowed to write the folder, at most
# spool_max_file_bytes; one whose JSON stops short waits spool_incomplete_wait_seconds.
spool_max_file_bytes = 1048576
spool_incomplete_wait_seconds = 60
# Orphan holds resolved from sacct every recovery_interval_seconds (0 = never), acting only
# recovery_grace_seconds after a job ended.
recovery_interval_seconds = 300
recovery_grace_seconds = 600

[advisor]
# aws-slurm-burst-advisor for estimates ("" = use the local rates only).
url = ""
timeout_ms = 300

[asbx]
# aws-slurm-burst's job-<id>-asbb-reconciliation.json files: ingested once each, then moved
# to processed/ (bad ones to rejected/ with a .reason file). Run its export with
# --format asbb-reconciliation --output-dir naming this folder.
spool_dir = "/var/spool/asbb/costs"
interval_seconds = 30
link_wait_seconds = 3600
# Files are read as hostile: no links, an owner allowed to write the folder, at most
# max_file_bytes; a file changed within settle_seconds waits, and one whose JSON stops short
# waits incomplete_wait_seconds before it is rejected as truncated.
max_file_bytes = 1048576
settle_seconds = 2
incomplete_wait_seconds = 60

[approvals]
# Every movement of money or limits a person makes (adjustments, and deposits, limits,
# one-off allocations and hold voids from the CLI, console and API) is requested by one
# person and applied when another approves it. false moves them at once and lets a
# requester approve their own (single-administrator sites; the console says so).
require_approval = true
# Amounts above this need the account name typed to confirm in the console.
confirm_above = "1000"

[allocations]
# How often due instalments of recurring allocations are credited (0 = never; run
# 'asbb allocations process' from cron instead). Missed periods are caught up exactly once.
process_interval_seconds = 300

[burn_rate]
# Health score bands (score 0-100): healthy >= healthy_from > concern >= concern_from >
# warning >= warning_from > critical.
healthy_from = 75
concern_from = 50
warning_from = 25

[alerts]
evaluate_interval_seconds = 300
# Percent of an account's limit charged that raises an alert (the highest one reached).
usage_thresholds = [50, 80, 90, 100]
# 30-day spend this many percent above the expected rate raises an alert.
variance_percent = "25"
# Projected exhaustion more than this many days before an account's end date raises an alert.
exhaustion_days = 0
# A grant period ending within grant_period_notice_days with more than
# grant_period_left_percent of its budget unspent raises an alert.
grant_period_notice_days = 30
grant_period_left_percent = "10"
stuck_hold_hours = 48
spool_backlog = 100
# Deliveries: a JSON POST to a webhook and/or an email; failures are retried
# delivery_attempts times (the wait doubles from retry_seconds), never blocking the ledger.
webhook_url = ""
smtp_host = ""
smtp_port = 25
smtp_from = "asbb@localhost"
smtp_to = []

[calibration]
# Learn actual/estimated cost per account and partition (always reported); with enabled =
# true new estimates are scaled by it, within [lower, upper], once min_jobs back it.
enabled = false
window_days = 90
min_jobs = 20
lower = "0.5"
upper = "2"

[console]
# How often the dashboard re-reads the figures, in seconds.
refresh_seconds = 10
# Rebind keys: the action's id (the console's ? help lists them) = "key[,key...]".
# keys = {{ "approvals-approve" = "A", "quit" = "ctrl+q" }}

[fleet]
# Fleet admission (POST /api/v1/budget/admit), asked by aws-slurm-burst's resume step before
# it launches nodes: count x the instance's hourly price is held for the hours the request
# names, else default_hours.
default_hours = "1"
# Dollars per instance-hour by region and instance type (quote names with dots). Without a
# spot price spot is held at on_demand; without reserved, reserved is priced as on_demand.
# A type, region or capacity model with no price here is refused.
# [fleet.prices.us-east-1."c6i.xlarge"]
# on_demand = "0.17"
# spot = "0.068"

# One table per Slurm partition. Rates are dollars per hour of the resource.
# Jobs on a partition not listed here are refused (a typo must not run unpriced AWS
# nodes): list every partition, local ones with budgeted = false. These are examples.
# fail_policy: what the plugin should do when the daemon does not answer in time,
#   "open" (accept the job) or "closed" (reject it). The plugin acts on policy.<partition>
#   in its own asbb_plugin.conf (beside slurm.conf): keep the two the same.

[partitions.aws-cpu]
per_cpu_hour = "0.0425"
per_gb_hour = "0"
fail_policy = "closed"

[partitions.gpu-aws]
per_cpu_hour = "0.0425"
per_gpu_hour = "3.06"
fail_policy = "closed"
# Or price by instance (per node-hour); the two keys go together:
# instance_type = "p3.2xlarge"
# instance_hourly_price = "3.06"

[partitions.local]
# On-premises nodes: never priced or held.
budgeted = false
fail_policy = "open"
"""


def render_config(url: str) -> str:
    """The commented TOML ``config init`` writes (keys match asbb_core.settings.Settings)."""
    return CONFIG_TEMPLATE.format(url=json.dumps(url))


def render_config_yaml(url: str) -> str:
    """The same settings as ``render_config``, as YAML (``config init --output x.yaml``, for
    sites that keep the original tool's config.yaml). YAML has no comments to carry over: the
    header points at the commented TOML."""
    import tomllib

    import yaml

    data = tomllib.loads(render_config(url))
    header = (
        "# asbb settings, the same keys as config.toml (asbb config init --output x.toml writes\n"
        "# them with a comment on each). Environment variables override this file:\n"
        "# ASBB_<SECTION>__<KEY>, e.g. ASBB_HOLDS__BUFFER=1.5.\n"
    )
    body: str = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    return header + body
