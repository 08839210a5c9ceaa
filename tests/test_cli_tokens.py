"""``asbb token create|list|revoke`` through the real Typer app, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from asbb_core.access.identity import os_login
from asbb_core.access.tokens import Tokens
from asbb_core.store.database import Database
from asbb_core.store.models import Role
from asbb_tui.cli import TokenRole, app
from tests.wire import loads


@pytest.fixture(autouse=True)
def isolated(cli_environment: Path) -> None:
    """No ASBB_* variables from the caller; an empty config file; a private data folder."""


@pytest.fixture
def asbb(migrated_url: str) -> Any:
    """Run ``asbb --database <the test database> ARGS...``."""

    def run(*args: str) -> Result:
        return CliRunner().invoke(app, ["--database", migrated_url, *args])

    return run


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def one_error_line(result: Result, *fragments: str) -> None:
    assert result.exit_code == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize(
    "command", [["token"], ["token", "create"], ["token", "list"], ["token", "revoke"]]
)
def test_token_commands_explain_themselves(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout
    assert len(result.stdout.split("Options")[0].strip().splitlines()) >= 2


def test_create_prints_the_secret_once_and_it_authenticates(asbb: Any, migrated_url: str) -> None:
    result = ok(asbb("token", "create", "slurmctld", "--role", "plugin"))
    secret = result.stdout.strip()
    assert secret.startswith("asbb_")
    assert len(secret.splitlines()) == 1  # stdout is the secret alone: easy to capture
    assert "shown only once" in result.stderr
    db = Database(migrated_url)
    try:
        token = Tokens(db).authenticate(secret)
        assert token is not None
        assert (token.name, token.role, token.accounts) == ("slurmctld", "plugin", [])
        assert token.created_by == os_login()
        assert token.secret_hash != secret
    finally:
        db.dispose()
    # Never shown again: neither the table nor the JSON listing carries it.
    assert secret not in ok(asbb("token", "list")).stdout
    listed = ok(asbb("token", "list", "--json")).stdout
    assert secret not in listed
    assert "secret" not in listed


def test_create_json_gives_name_role_accounts_secret_prefix(asbb: Any) -> None:
    result = ok(
        asbb("token", "create", "finance", "--role", "reader", "--account", "ml-proj", "--json")
    )
    data = loads(result.stdout)
    assert set(data) == {"name", "role", "accounts", "secret", "prefix"}
    assert (data["name"], data["role"], data["accounts"]) == ("finance", "reader", ["ml-proj"])
    assert data["secret"].startswith(data["prefix"])
    assert data["prefix"].startswith("asbb_")
    assert len(data["prefix"]) < len(data["secret"])


def test_reader_may_be_limited_to_several_accounts(asbb: Any) -> None:
    ok(
        asbb(
            "token",
            "create",
            "pi-smith",
            "--role",
            "READER",
            "--account",
            "physics",
            "--account",
            "chem",
        )
    )
    (row,) = loads(ok(asbb("token", "list", "--json")).stdout)
    assert (row["name"], row["role"]) == ("pi-smith", "reader")
    assert row["accounts"] == ["chem", "physics"]


def test_list_shows_prefix_role_accounts_created_and_revoked(asbb: Any) -> None:
    assert loads(ok(asbb("token", "list", "--json")).stdout) == []
    assert "no tokens" in ok(asbb("token", "list")).stderr  # a note, not data
    admin = loads(ok(asbb("token", "create", "ops", "--role", "admin", "--json")).stdout)
    ok(asbb("token", "create", "plugin-1", "--role", "plugin"))
    ok(asbb("token", "revoke", "plugin-1"))

    rows = loads(ok(asbb("token", "list", "--json")).stdout)
    assert [r["name"] for r in rows] == ["ops", "plugin-1"]
    as_csv = list(csv.DictReader(io.StringIO(ok(asbb("token", "list", "--csv")).stdout)))
    assert [(r["name"], r["role"], r["revoked"] != "") for r in as_csv] == [
        ("ops", "admin", False),
        ("plugin-1", "plugin", True),
    ]
    ops, plugin = rows
    assert set(ops) == {"name", "prefix", "role", "accounts", "created_by", "created", "revoked"}
    assert (ops["prefix"], ops["role"], ops["accounts"], ops["revoked"]) == (
        admin["prefix"],
        "admin",
        [],
        None,
    )
    assert ops["created"].endswith("Z")  # RFC 3339, in UTC
    assert plugin["revoked"].endswith("Z")
    # The same moment in both: the spreadsheet's ISO 8601 form, with its offset.
    revoked_csv = as_csv[1]["revoked"]
    assert datetime.fromisoformat(plugin["revoked"]) == datetime.fromisoformat(revoked_csv)
    assert revoked_csv.endswith("+00:00")

    live = loads(ok(asbb("token", "list", "--live", "--json")).stdout)
    assert [r["name"] for r in live] == ["ops"]

    table = ok(asbb("token", "list")).stdout
    for fragment in ("ops", "plugin-1", admin["prefix"], "admin", "plugin", "all"):
        assert fragment in table


def test_revoke_stops_the_token_authenticating(asbb: Any, migrated_url: str) -> None:
    secret = ok(asbb("token", "create", "old", "--role", "plugin")).stdout.strip()
    result = ok(asbb("token", "revoke", "old"))
    assert "revoked token 'old'" in result.stdout
    db = Database(migrated_url)
    try:
        assert Tokens(db).authenticate(secret) is None
    finally:
        db.dispose()
    ok(asbb("token", "revoke", "old"))  # revoking twice is harmless


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["token", "revoke", "ghost"], ["no token named 'ghost'"]),
        (["token", "create", "bad name!", "--role", "plugin"], ["name:"]),
        (["token", "create", "x", "--role", "admin", "--account", "a"], ["only reader tokens"]),
        (["token", "create", "x", "--role", "reader", "--account", "bad name!"], ["accounts"]),
    ],
    ids=["revoke-unknown", "bad-name", "scoped-admin", "bad-account"],
)
def test_errors_are_one_line_and_exit_1(asbb: Any, args: list[str], fragments: list[str]) -> None:
    one_error_line(asbb(*args), *fragments)


def test_duplicate_name_is_refused(asbb: Any) -> None:
    ok(asbb("token", "create", "dup", "--role", "plugin"))
    one_error_line(asbb("token", "create", "dup", "--role", "admin"), "already exists")
    assert len(loads(ok(asbb("token", "list", "--json")).stdout)) == 1


def test_cli_roles_are_the_models_roles() -> None:
    assert [r.value for r in TokenRole] == [r.value for r in Role]


def test_unknown_role_is_a_usage_error(asbb: Any) -> None:
    result = asbb("token", "create", "x", "--role", "root")
    assert result.exit_code == 2
    assert "root" in result.stderr


def test_unmigrated_database_is_one_line_error(database_url: str) -> None:
    result = CliRunner().invoke(app, ["--database", database_url, "token", "list"])
    one_error_line(result, "asbb database migrate")
