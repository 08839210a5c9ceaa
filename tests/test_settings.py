"""Settings: file + environment, validated at start with the field named."""

from decimal import Decimal

import pytest

from asbb_core.settings import FailPolicy, load_settings
from asbb_core.values.errors import SettingsError, UnknownPartitionError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    import os

    for key in list(os.environ):
        if key.startswith("ASBB_"):
            monkeypatch.delenv(key)
    monkeypatch.setattr("asbb_core.settings.SYSTEM_CONFIG", tmp_path / "absent.toml")


def test_defaults():
    settings = load_settings()
    assert settings.holds.buffer == Decimal("1.2")
    assert settings.database.url.startswith("sqlite:///")
    assert settings.database.url.endswith("asbb.sqlite3")
    assert settings.partitions == {}


def test_file_then_environment(monkeypatch, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(
        """
[database]
url = "postgresql://postgres@127.0.0.1/asbb"

[holds]
buffer = 1.5

[partitions.gpu-aws]
per_gpu_hour = "3.06"
fail_policy = "open"

[partitions.local]
budgeted = false
"""
    )
    monkeypatch.setenv("ASBB_CONFIG", str(config))
    settings = load_settings()
    assert settings.database.url == "postgresql+psycopg://postgres@127.0.0.1/asbb"
    assert settings.holds.buffer == Decimal("1.5")
    gpu = settings.partition("gpu-aws")
    assert gpu is not None
    assert gpu.per_gpu_hour == Decimal("3.06")
    assert gpu.fail_policy is FailPolicy.OPEN
    assert settings.partition("local") is None  # not budgeted
    for unknown in ("nowhere", "LOCAL", "local ", "GPU-AWS"):  # names compare exactly
        with pytest.raises(UnknownPartitionError, match=f"add \\[partitions.{unknown}\\]"):
            settings.partition(unknown)

    monkeypatch.setenv("ASBB_HOLDS__BUFFER", "1.1")
    assert load_settings().holds.buffer == Decimal("1.1")


@pytest.mark.parametrize(
    ("env", "value", "field"),
    [
        ("ASBB_HOLDS__BUFFER", "0.5", "holds.buffer"),
        ("ASBB_HOLDS__TIMEOUT_HOURS", "-1", "holds.timeout_hours"),
        ("ASBB_DATABASE__URL", "oracle://x", "database.url"),
    ],
)
def test_invalid_settings_name_the_field(monkeypatch, env, value, field):
    monkeypatch.setenv(env, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert info.value.field == field
    assert field in info.value.message


def test_negative_rate_and_unpaired_instance(monkeypatch, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[partitions.aws]\nper_cpu_hour = "-1"\n')
    monkeypatch.setenv("ASBB_CONFIG", str(config))
    with pytest.raises(SettingsError, match=r"partitions\.aws\.per_cpu_hour"):
        load_settings()
    config.write_text('[partitions.aws]\ninstance_type = "p3.2xlarge"\n')
    with pytest.raises(SettingsError, match="instance_type and instance_hourly_price"):
        load_settings()


def test_unknown_keys_and_missing_or_broken_files(monkeypatch, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[holds]\nbufer = 1.3\n")
    monkeypatch.setenv("ASBB_CONFIG", str(config))
    with pytest.raises(SettingsError, match=r"holds\.bufer"):
        load_settings()
    config.write_text("[holds\n")
    with pytest.raises(SettingsError, match="invalid settings file"):
        load_settings()
    monkeypatch.setenv("ASBB_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(SettingsError, match="no such file"):
        load_settings()
