"""Settings: one pydantic-settings class made of nested models.

Sources, strongest first: keyword arguments, ``ASBB_*`` environment variables (``__`` nests:
``ASBB_HOLDS__BUFFER=1.5``), the TOML file named by ``ASBB_CONFIG`` (else
``/etc/asbb/config.toml`` if it exists), then the defaults below. Invalid settings raise
``SettingsError`` naming the field and the reason, at start-up, before anything runs.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from asbb_core.values.errors import SettingsError, UnknownPartitionError

SYSTEM_CONFIG = Path("/etc/asbb/config.toml")


def default_database_url() -> str:
    """The embedded default: a SQLite file in the user's data folder."""
    folder = Path(platformdirs.user_data_dir("asbb", appauthor=False))
    return f"sqlite:///{folder / 'asbb.sqlite3'}"


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever scheme the user wrote."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class FailPolicy(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class _Section(BaseModel):
    """A settings section: unknown keys are errors (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid")


class DatabaseSettings(_Section):
    url: str = Field(default_factory=default_database_url)
    """SQLAlchemy URL: ``sqlite:///path`` or ``postgresql://user@host/db`` (psycopg 3)."""
    pool_size: int = Field(default=10, ge=1, le=200)
    """Connections kept open per process (PostgreSQL)."""
    echo: bool = False
    """Log every SQL statement (debugging only)."""

    @field_validator("url")
    @classmethod
    def _known_backend(cls, url: str) -> str:
        url = normalise_database_url(url.strip())
        if not url.startswith(("sqlite", "postgresql+psycopg://")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
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

    spool_dir: str = "/var/spool/asbx"
    """Where aws-slurm-burst writes them (the epilog's ``asbx_dir`` too); the daemon ingests
    each once, then moves it to ``processed/`` (or ``rejected/`` with a ``.reason`` file)."""
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
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = config_path()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
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


def config_path() -> Path | None:
    """The config file in force: ``ASBB_CONFIG`` if set (it must exist), else the system one."""
    named = os.environ.get("ASBB_CONFIG")
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise SettingsError(f"ASBB_CONFIG: no such file: {path}", field="ASBB_CONFIG")
        return path
    return SYSTEM_CONFIG if SYSTEM_CONFIG.is_file() else None


def load_settings(**overrides: Any) -> Settings:
    """Load and validate settings, turning pydantic's errors into one readable SettingsError."""
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
# to processed/ (bad ones to rejected/ with a .reason file).
spool_dir = "/var/spool/asbx"
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
