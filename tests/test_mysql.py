"""What MySQL / MariaDB needs of asbb beyond the shared suites (which run on it too, see
``MYSQL_MODULES`` in conftest.py): the session every connection gets, one snapshot per read,
text that compares exactly, deadlocks retried, refusals raised as integrity errors, the
original tool's Go DSN, and the private server the harness starts when none answers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql as mysql_dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session, select

from asbb_core.settings import mysql_url_from_dsn, normalise_database_url
from asbb_core.store.database import Database, is_retryable
from asbb_core.store.models import Account, JournalEntry
from asbb_core.values.context import Context, Source
from tests.mysqlserver import MySQLUnavailableError, start_private

ON_MYSQL = pytest.mark.parametrize("backend", [pytest.param("mysql", marks=pytest.mark.mysql)])
accounts = Account.__table__  # type: ignore[attr-defined]
journal = JournalEntry.__table__  # type: ignore[attr-defined]


def _account_row(name: str, limit: str = "100") -> dict[str, Any]:
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    money = Decimal(limit)
    return {
        "name": name,
        "description": "",
        "status": "active",
        "limit_amount": money,
        "used_amount": Decimal(0),
        "held_amount": Decimal(0),
        "carry_amount": Decimal(0),
        "created_at": now,
        "updated_at": now,
    }


# ---------------------------------------------------------------- URLs and the original's DSN


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://u:p@db/asbb", "mysql+pymysql://u:p@db/asbb"),
        ("mariadb://u@db:3307/asbb", "mysql+pymysql://u@db:3307/asbb"),
        ("mariadb+pymysql://u@db/asbb", "mysql+pymysql://u@db/asbb"),
        ("mysql+pymysql://u@db/asbb", "mysql+pymysql://u@db/asbb"),
    ],
)
def test_mysql_urls_use_pymysql(url: str, expected: str) -> None:
    assert normalise_database_url(url) == expected


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        (
            "asbb:secret@tcp(db.example.org:3306)/asbb",
            "mysql+pymysql://asbb:secret@db.example.org:3306/asbb",
        ),
        ("asbb@tcp(db.example.org)/asbb", "mysql+pymysql://asbb@db.example.org:3306/asbb"),
        ("root@/asbb", "mysql+pymysql://root@127.0.0.1:3306/asbb"),
        ("u:a:b@c@tcp([::1]:3307)/x", "mysql+pymysql://u:a%3Ab%40c@[::1]:3307/x"),
        (
            "asbb@unix(/run/mysqld/mysqld.sock)/asbb?parseTime=true&loc=UTC",
            "mysql+pymysql://asbb@localhost/asbb?unix_socket=%2Frun%2Fmysqld%2Fmysqld.sock",
        ),
        (
            "u@tcp(db:3306)/x?timeout=5s&readTimeout=1m",
            "mysql+pymysql://u@db:3306/x?connect_timeout=5&read_timeout=60",
        ),
        (
            "u@tcp(db:3306)/x?tls=skip-verify",
            "mysql+pymysql://u@db:3306/x?ssl_check_hostname=false",
        ),
    ],
)
def test_the_originals_go_dsn_maps_to_a_url(dsn: str, expected: str) -> None:
    assert mysql_url_from_dsn(dsn) == expected


def test_a_dsn_parameter_asbb_does_not_use_is_noted_and_tls_true_verifies() -> None:
    notes: list[str] = []
    url = mysql_url_from_dsn("u@tcp(db:3306)/x?tls=true&interpolateParams=true", notes.append)
    assert "ssl_check_hostname=true" in url
    assert "ssl_ca=%2Fetc%2Fssl%2Fcerts%2Fca-certificates.crt" in url
    assert notes == ["ignored: asbb has no counterpart for the DSN parameter interpolateParams"]
    with pytest.raises(ValueError, match="not tcp"):
        mysql_url_from_dsn("u@pipe(x)/db")
    with pytest.raises(ValueError, match="host:port"):
        mysql_url_from_dsn("u@tcp(db:99999)/db")


def test_what_mysql_cannot_say_compiles_to_what_it_can() -> None:
    """NULLS LAST and FILTER (WHERE ...) do not exist in MySQL: the same meaning in its SQL."""
    key = sa.func.date(journal.c.created_at).label("key")
    charge = journal.c.kind == "charge"
    statement = (
        sa.select(
            key,
            sa.func.count(journal.c.id).filter(charge),
            sa.func.count(sa.func.distinct(journal.c.hold_id)).filter(charge),
            sa.func.sum(journal.c.used_delta).filter(charge),
        )
        .group_by(key)
        .order_by(key.asc().nulls_last(), journal.c.id.desc().nulls_first())
    )
    sql = str(statement.compile(dialect=mysql_dialect.dialect()))
    assert "NULLS" not in sql
    assert "FILTER" not in sql
    assert "count(CASE WHEN (journal.kind = %s) THEN journal.id END)" in sql
    assert "count(DISTINCT CASE WHEN (journal.kind = %s) THEN journal.hold_id END)" in sql
    assert "ORDER BY `key` IS NULL, `key` ASC, journal.id IS NOT NULL, journal.id DESC" in sql


# ---------------------------------------------------------------- the session


@ON_MYSQL
def test_every_connection_is_strict_utc_utf8mb4_and_writes_read_committed(
    backend: str, db: Database
) -> None:
    with db.engine.connect() as conn:
        # MariaDB before 11.1 names it tx_isolation, MySQL 8 transaction_isolation.
        mariadb = getattr(conn.dialect, "is_mariadb", False)  # known once connected
        isolation = "tx_isolation" if mariadb else "transaction_isolation"
        mode, zone, charset, level = conn.exec_driver_sql(
            "SELECT @@SESSION.sql_mode, @@SESSION.time_zone, @@character_set_connection, "
            f"@@SESSION.{isolation}"
        ).one()
    assert {
        "STRICT_ALL_TABLES",
        "NO_ZERO_DATE",
        "ERROR_FOR_DIVISION_BY_ZERO",
        "ANSI_QUOTES",
    } <= set(mode.split(","))
    assert (zone, charset, level) == ("+00:00", "utf8mb4", "READ-COMMITTED")
    # Strict: a value too long for its column is refused, not cut.
    with pytest.raises(DBAPIError, match="Data too long"), db.engine.begin() as conn:
        conn.execute(sa.insert(accounts).values(_account_row("x" * 65)))


@ON_MYSQL
def test_a_read_sees_one_snapshot_and_cannot_write(
    backend: str, db: Database, migrated_url: str
) -> None:
    with db.engine.begin() as conn:
        conn.execute(sa.insert(accounts).values(_account_row("physics", "100")))
    other = Database(migrated_url, pool_size=1)

    def twice(session: Session) -> tuple[Decimal, Decimal]:
        first = session.exec(select(Account.limit_amount).where(Account.name == "physics")).one()
        with other.engine.begin() as conn:  # another connection commits meanwhile
            conn.execute(
                sa.update(accounts).where(accounts.c.name == "physics").values(limit_amount=500)
            )
        second = session.exec(select(Account.limit_amount).where(Account.name == "physics")).one()
        return first, second

    try:
        assert db.read(twice) == (Decimal("100.0000"), Decimal("100.0000"))
        assert db.read(lambda s: s.exec(select(Account.limit_amount)).one()) == Decimal("500")
        with pytest.raises(DBAPIError, match="READ ONLY"):
            db.read(lambda s: s.execute(sa.delete(accounts)))
    finally:
        other.dispose()


@ON_MYSQL
def test_names_compare_exactly(backend: str, db: Database, ledger: Any, ctx: Context) -> None:
    """A binary collation without PAD SPACE: case and trailing blanks make other names, as on
    PostgreSQL (MySQL's default collations would call them equal, and the keys collide)."""
    with db.engine.begin() as conn:
        for name in ("physics", "Physics", "physics "):
            conn.execute(sa.insert(accounts).values(_account_row(name)))
        found = conn.execute(sa.select(accounts.c.name).where(accounts.c.name == "physics"))
        assert found.scalars().all() == ["physics"]
    ledger.create_account("lab", ctx=ctx, limit="1000")
    ledger.set_partition_limit("lab", "gpu-aws", "10", ctx=ctx)
    ledger.set_partition_limit("lab", "GPU-AWS", "20", ctx=ctx)
    caps = {cap.partition: cap.limit_amount for cap in ledger.partition_limits("lab")}
    assert caps == {"GPU-AWS": Decimal("20.0000"), "gpu-aws": Decimal("10.0000")}


@ON_MYSQL
def test_times_keep_their_microseconds(backend: str, db: Database) -> None:
    moment = datetime(2026, 3, 2, 12, 0, 0, 123456, tzinfo=UTC)
    with db.engine.begin() as conn:
        conn.execute(sa.insert(accounts).values({**_account_row("physics"), "created_at": moment}))
        stored = conn.execute(sa.select(accounts.c.created_at)).scalar_one()
    assert stored == moment
    assert stored.tzinfo is not None


@ON_MYSQL
@pytest.mark.single_admin
def test_checks_and_triggers_refuse_as_integrity_errors(
    backend: str, db: Database, ledger: Any, ctx: Context
) -> None:
    """PyMySQL calls a CHECK's or a trigger's refusal an OperationalError; asbb raises both
    as the IntegrityError they are on PostgreSQL."""
    ledger.create_account("physics", ctx=ctx, limit="100")  # journals the opening deposit
    hold = ledger.create_hold("physics", "10", ctx=ctx)
    ledger.void_hold(hold.hold_id, ctx=ctx)
    refused = {
        "ck_accounts_money": sa.update(accounts).values(limit_amount=-1),
        "ck_idempotency_keys_namespace": sa.text(
            'INSERT INTO idempotency_keys ("key", operation, fingerprint, result, created_at) '
            "VALUES ('bare', 'op', 'f', '{}', '2026-03-02')"
        ),
        "journal is append-only": sa.update(journal).values(memo="rewritten"),
        "a resolved hold is final": sa.text("UPDATE holds SET state = 'open'"),
    }
    for why, statement in refused.items():
        with pytest.raises(IntegrityError, match=why), db.engine.begin() as conn:
            conn.execute(statement)
    with pytest.raises(IntegrityError, match="journal is append-only"), db.engine.begin() as c:
        c.execute(sa.delete(journal))
    assert ledger.get_account("physics").limit_amount == Decimal("100")


# ---------------------------------------------------------------- retries


def _deadlock(db: Database, nested: bool) -> list[int]:
    """Two writes lock the two accounts in opposite orders at once: InnoDB kills one (1213),
    and the unit of work runs it again. Returns how many tries each took."""
    meet = threading.Barrier(2, timeout=30)
    tries = [0, 0]

    def write(n: int, first: str, second: str) -> None:
        def lock(session: Session) -> None:
            tries[n] += 1
            rows = select(Account).with_for_update()
            session.exec(rows.where(Account.name == first)).one()
            if tries[n] == 1:
                meet.wait()  # both hold their first lock
            session.exec(rows.where(Account.name == second)).one()

        if nested:
            db.run(lambda session: db.run(lock))  # the locks in a savepoint
        else:
            db.run(lock)

    threads = [
        threading.Thread(target=write, args=(0, "a", "b")),
        threading.Thread(target=write, args=(1, "b", "a")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return tries


@ON_MYSQL
@pytest.mark.parametrize("nested", [False, True], ids=["unit", "savepoint"])
def test_a_deadlock_is_retried(backend: str, db: Database, nested: bool) -> None:
    with db.engine.begin() as conn:
        conn.execute(sa.insert(accounts), [_account_row("a"), _account_row("b")])
    tries = _deadlock(db, nested)
    assert sorted(tries) == [1, 2]  # one ran once; the deadlock's victim ran again and won


@ON_MYSQL
def test_a_lock_wait_timeout_is_retryable(backend: str, db: Database) -> None:
    with db.engine.begin() as conn:
        conn.execute(sa.insert(accounts).values(_account_row("a")))
    with db.engine.connect() as holder, db.engine.connect() as waiter:
        holder.execute(sa.select(accounts).with_for_update())
        waiter.exec_driver_sql("SET SESSION innodb_lock_wait_timeout = 1")
        with pytest.raises(DBAPIError) as info:
            waiter.execute(sa.update(accounts).values(description="x"))
        holder.rollback()
    assert info.value.orig.args[0] == 1205  # type: ignore[union-attr]
    assert is_retryable(info.value)


@ON_MYSQL
def test_a_unique_race_answers_from_the_winner(backend: str, db: Database, ledger: Any) -> None:
    """Two creations of one account at once: the loser's 1062 is a race, and its retry sees
    the winner's account (a conflict), never a 500."""
    from asbb_core.values.errors import ConflictError

    meet = threading.Barrier(2, timeout=30)
    outcomes: list[str] = []

    def create(n: int) -> None:
        meet.wait()
        try:
            ledger.create_account("race", ctx=Context(actor=f"t{n}", source=Source.CLI), limit="1")
            outcomes.append("created")
        except ConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=create, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["conflict", "created"]


# ---------------------------------------------------------------- the harness's own server


@pytest.mark.slow
@pytest.mark.mysql
def test_a_private_mariadb_starts_migrates_and_stops() -> None:
    """Where no server answers on 3306 the harness starts its own: prove that path works."""
    from asbb_core.store.migrate import current_revision, head_revision, upgrade

    try:
        server = start_private()
    except MySQLUnavailableError as exc:
        pytest.skip(str(exc))
    base = server.base
    try:
        name = server.create_database()
        upgrade(server.url(name))
        assert current_revision(server.url(name)) == head_revision()
        assert "MariaDB" in server.version
    finally:
        server.stop()
    assert base is not None
    assert not Path(base).exists()
