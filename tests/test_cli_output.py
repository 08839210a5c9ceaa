"""What every ``asbb`` command shares: help on every command, shell completion, the
table / JSON / CSV output, and dates and look-backs typed the way people type them."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from asbb_core.values.errors import ValidationError
from asbb_core.values.periods import parse_day, parse_since
from asbb_tui.cli import app
from asbb_tui.cli_base import Column, emit_record, emit_rows
from tests.wire import D, day, loads

ASBB = str(Path(sys.executable).with_name("asbb"))
TODAY = date(2026, 11, 22)


def every_command() -> list[list[str]]:
    """The path of every command and group under ``asbb``."""
    root = typer.main.get_command(app)
    found: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:
        found.append(path)
        for name, sub in getattr(command, "commands", {}).items():  # a group's
            walk(sub, [*path, name])

    walk(root, [])
    return found


@pytest.mark.parametrize("path", every_command(), ids=lambda p: " ".join(p) or "asbb")
def test_every_command_has_help_beyond_its_usage_line(path: list[str]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    before_options = result.stdout.split("Options")[0].strip().splitlines()
    assert len(before_options) >= 3, result.stdout  # usage, blank, a sentence at least


def test_bash_and_zsh_completion() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASBB_")}
    # Typer otherwise detects the shell from the parent processes and ignores the name given
    # (under CI's runner, or nohup, there may be none to find): take the shell as named.
    env["_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION"] = "1"
    for shell in ("bash", "zsh"):
        script = subprocess.run(
            [ASBB, "--show-completion", shell], capture_output=True, text=True, env=env
        )
        assert script.returncode == 0, script.stderr
        assert "_asbb_completion" in script.stdout or "compdef" in script.stdout
    asked = subprocess.run(
        [ASBB],
        capture_output=True,
        text=True,
        env={**env, "_ASBB_COMPLETE": "complete_bash", "COMP_WORDS": "asbb al", "COMP_CWORD": "1"},
    )
    assert asked.stdout.split() == ["allocations", "alerts"]


ROWS = [
    {
        "name": "ml-proj",
        "available": Decimal("35798.87"),
        "tags": ["gpu", "aws"],
        "opened": date(2025, 9, 1),
    },
    {"name": "physics", "available": Decimal("-1.50"), "tags": [], "opened": None},
]
COLUMNS = [
    Column("name", "Account"),
    Column("available", money=True),
    Column("tags"),
    Column("opened"),
]


def test_rows_as_table_json_and_csv(capsys: pytest.CaptureFixture[str]) -> None:
    emit_rows(ROWS, COLUMNS, title="accounts")
    table = capsys.readouterr().out
    assert "Account" in table
    assert "$35,798.87" in table
    assert "gpu, aws" in table

    assert "2025-09-01" in table

    # JSON: amounts are exact JSON numbers, days RFC 3339 date-times.
    emit_rows(ROWS, COLUMNS, as_json=True)
    text = capsys.readouterr().out
    assert '"available": 35798.87,' in text
    assert '"available": -1.50,' in text
    assert loads(text) == [
        {
            "name": "ml-proj",
            "available": D("35798.87"),
            "tags": ["gpu", "aws"],
            "opened": day("2025-09-01"),
        },
        {"name": "physics", "available": D("-1.50"), "tags": [], "opened": None},
    ]

    # CSV: a spreadsheet's forms, days as 2025-09-01 and amounts as 12.50.
    emit_rows(ROWS, COLUMNS, as_csv=True)
    parsed = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert parsed == [
        {
            "name": "ml-proj",
            "available": "35798.87",
            "tags": '["gpu", "aws"]',
            "opened": "2025-09-01",
        },
        {"name": "physics", "available": "-1.50", "tags": "[]", "opened": ""},
    ]

    emit_rows([], COLUMNS, empty="no accounts")
    out = capsys.readouterr()
    assert out.out == ""
    assert "no accounts" in out.err  # the message is not data: stdout stays empty

    emit_rows([], COLUMNS, as_csv=True)
    assert capsys.readouterr().out == "name,available,tags,opened\n"  # the header alone


def test_one_record(capsys: pytest.CaptureFixture[str]) -> None:
    emit_record(ROWS[0], COLUMNS)
    out = capsys.readouterr().out
    assert "Account" in out
    assert "ml-proj" in out
    emit_record(ROWS[0], COLUMNS, as_json=True)
    shown = loads(capsys.readouterr().out)  # one object
    assert (shown["available"], shown["opened"]) == (D("35798.87"), day("2025-09-01"))
    with pytest.raises(typer.BadParameter):
        emit_record(ROWS[0], COLUMNS, as_json=True, as_csv=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-01", date(2025, 1, 1)),
        ("today", TODAY),
        ("Yesterday", date(2026, 11, 21)),
        ("1d", TODAY),
        ("30d", date(2026, 10, 24)),  # 30 days ending today
        ("2w", date(2026, 11, 9)),
        ("6m", date(2026, 5, 23)),
        ("1y", date(2025, 11, 23)),
    ],
)
def test_look_backs(text: str, expected: date) -> None:
    assert parse_since(text, field="last", today=TODAY) == expected


@pytest.mark.parametrize("text", ["0d", "30", "3x", "2025-13-01", "-5d", ""])
def test_bad_look_backs_name_the_field(text: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_since(text, field="last", today=TODAY)
    assert err.value.field == "last"


def test_days() -> None:
    assert parse_day("tomorrow", field="end", today=TODAY) == date(2026, 11, 23)
    with pytest.raises(ValidationError) as err:
        parse_day("30d", field="end", today=TODAY)
    assert err.value.field == "end"
