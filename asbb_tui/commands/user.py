"""``asbb status``, ``asbb remaining``, ``asbb quick-check``: a user's view, through the daemon.

These commands never open the database: they ask the asbb daemon over HTTP, so users need only
its address and (usually) a reader token.

Where the daemon is: ``--url``, else ``ASBB_URL``, else the settings' ``daemon.host``/``port``.
The token: ``ASBB_TOKEN``, else the file named by ``ASBB_TOKEN_FILE``, else
``~/.config/asbb/token`` if it exists; without one no token is sent.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn
from urllib.parse import quote

import typer

from asbb_tui.cli_base import (
    EXIT_OVER_BUDGET,
    Column,
    CsvOption,
    JsonOption,
    emit_record,
    emit_rows,
    fail,
    print_json,
    read_token_file,
    stderr,
    stdout,
)

if TYPE_CHECKING:
    import httpx

API = "/api/v1"
TIMEOUT_SECONDS = 15.0
PAGE = 500
"""Holds asked for per request (the API's largest page)."""

TOKEN_HINT = (
    "set ASBB_TOKEN (or ASBB_TOKEN_FILE) to a token from your administrator "
    "('asbb token create NAME --role reader --account A')"
)

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        metavar="URL",
        help=(
            "The asbb daemon, e.g. http://bank.example.org:8770 (default: $ASBB_URL, else "
            "the settings' daemon.host and daemon.port)."
        ),
        show_default=False,
    ),
]
AccountOption = Annotated[
    str | None,
    typer.Option(
        "--account",
        "-A",
        metavar="A",
        help="The budget account (default: $ASBB_ACCOUNT, else your Slurm default account).",
        show_default=False,
    ),
]


# ---------------------------------------------------------------- who and where


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (e.g. in a container)
        return str(os.getuid())


def _daemon_url(url: str | None) -> str:
    chosen = url or os.environ.get("ASBB_URL")
    if not chosen:
        from asbb_core.settings import load_settings

        daemon = load_settings().daemon
        host = daemon.host if daemon.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        chosen = f"http://{host}:{daemon.port}"
    return chosen.rstrip("/")


def _token() -> str | None:
    """$ASBB_TOKEN, else the file $ASBB_TOKEN_FILE, else ~/.config/asbb/token, else none."""
    secret = os.environ.get("ASBB_TOKEN", "").strip()
    if secret:
        return secret
    named = os.environ.get("ASBB_TOKEN_FILE")
    if named:
        return read_token_file(Path(named).expanduser())
    default = Path("~/.config/asbb/token").expanduser()
    return read_token_file(default) if default.is_file() else None


def _sacctmgr(*args: str) -> list[str]:
    """Lines of ``sacctmgr -nP ...`` (none when Slurm is not installed or says no)."""
    import shutil

    from asbb_core.integrations.slurm import SlurmError, run_command

    if shutil.which("sacctmgr") is None:
        return []
    try:
        out = run_command(["sacctmgr", "-nP", *args], timeout=10.0)
    except SlurmError:
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def _slurm_default_account() -> str | None:
    found = _sacctmgr("show", "user", _user(), "format=DefaultAccount")
    return found[0] if found else None


def _slurm_accounts() -> list[str]:
    found = _sacctmgr("show", "assoc", f"user={_user()}", "format=Account")
    return list(dict.fromkeys(found))  # one per association: keep the first of each


def _env_accounts() -> list[str]:
    return [a.strip() for a in os.environ.get("ASBB_ACCOUNT", "").split(",") if a.strip()]


def _account(given: str | None) -> str:
    chosen = given or next(iter(_env_accounts()), None) or _slurm_default_account()
    if not chosen:
        fail("name an account: --account or ASBB_ACCOUNT")
    return chosen


# ---------------------------------------------------------------- talking to the daemon


class Daemon:
    """The daemon's API, each failure turned into one ``error:`` line and exit 1."""

    def __init__(self, url: str | None) -> None:
        import httpx

        self.url = _daemon_url(url)
        token = _token()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(base_url=self.url, headers=headers, timeout=TIMEOUT_SECONDS)

    def __enter__(self) -> Daemon:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def get(self, path: str, **params: Any) -> Any:
        return self._send("GET", path, params=params).body

    def page(self, path: str, **params: Any) -> tuple[list[Any], int]:
        """One page of a list: its rows (a JSON array) and the total (``X-Total-Count``)."""
        answer = self._send("GET", path, params=params)
        rows = answer.body if isinstance(answer.body, list) else []
        return rows, int(answer.headers.get("x-total-count", len(rows)))

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self._send("POST", path, json=body).body

    def _send(self, method: str, path: str, **kwargs: Any) -> _Answer:
        import httpx

        from asbb_core.values.wire import loads

        try:
            response = self.client.request(method, API + path, **kwargs)
        except httpx.HTTPError as exc:
            fail(f"cannot reach the asbb daemon at {self.url} ({type(exc).__name__}: {exc})")
        if not response.is_success:
            self._refuse(response)
        # Money arrives as JSON numbers: read them as Decimals, never floats.
        return _Answer(loads(response.content), response.headers)

    def _refuse(self, response: httpx.Response) -> NoReturn:
        try:
            error = response.json().get("error") or {}
        except ValueError:
            error = {}
        message = error.get("message") if isinstance(error, dict) else None
        message = message or f"the daemon at {self.url} answered HTTP {response.status_code}"
        if response.status_code in (401, 403):
            fail(f"{message} ({TOKEN_HINT})")
        fail(message)


@dataclass(frozen=True)
class _Answer:
    body: Any
    headers: Mapping[str, str]


def _money(value: Any) -> Decimal | None:
    return Decimal(value) if value is not None else None


def _share(account: dict[str, Any]) -> Decimal:
    """Percent used as the daemon defines it for every front end (used / limit): one figure,
    the same in `remaining`, `account show` and the console."""
    return Decimal(account["percent_used"])


# ---------------------------------------------------------------- quick-check


def quick_check(
    time: Annotated[
        str,
        typer.Option(
            "--time",
            "-t",
            metavar="T",
            help="The job's time limit: 2h, 90m, 1d12h, 2:00:00 or 1-00:00:00.",
            show_default=False,
        ),
    ],
    nodes: Annotated[int, typer.Option("--nodes", "-N", help="Nodes.", min=1)] = 1,
    ntasks: Annotated[
        int | None,
        typer.Option("--ntasks", "-n", help="Tasks, as sbatch's -n (default 1).", min=1),
    ] = None,
    cpus_per_task: Annotated[
        int | None,
        typer.Option(
            "--cpus-per-task", "-c", help="CPUs per task, as sbatch's -c (default 1).", min=1
        ),
    ] = None,
    cpus: Annotated[
        int | None,
        typer.Option(
            "--cpus",
            help="CPUs for the whole job (all nodes), instead of -n x -c.",
            min=1,
            show_default=False,
        ),
    ] = None,
    gpus: Annotated[
        int, typer.Option("--gpus", "-G", help="GPUs for the whole job (all nodes).", min=0)
    ] = 0,
    memory: Annotated[
        str | None,
        typer.Option(
            "--memory",
            "--mem",
            metavar="M",
            help="Memory for the whole job: 64G, 512M, or megabytes.",
            show_default=False,
        ),
    ] = None,
    array: Annotated[
        int, typer.Option("--array", metavar="N", help="Tasks of a job array.", min=1)
    ] = 1,
    partition: Annotated[
        str | None,
        typer.Option(
            "--partition",
            "-p",
            metavar="P",
            help="The partition (default: $ASBB_DEFAULT_PARTITION, else the daemon's default).",
            show_default=False,
        ),
    ] = None,
    account: AccountOption = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """What a job would cost and whether `sbatch` would accept it now, without holding anything.

    The job's shape takes sbatch's letters and meanings: `-N` nodes, `-n` tasks, `-c` CPUs
    per task, `-G` GPUs for the job, `-t` time, `-p` partition, `-A` account, so
    `asbb quick-check -N 4 -n 4 -c 4 -G 1 -t 2h -p gpu-aws` prints the estimate,
    the hold `sbatch` would take (estimate x calibration x buffer), what the account would have
    left, and ACCEPTED or REFUSED with the daemon's reason.

    Exit status: 0 accepted, 3 refused (over budget, or the account cannot take jobs),
    1 an error (unknown account, bad time). Needs a token of any role (`ASBB_TOKEN`); on
    the daemon's own host none if it lets local callers in (`daemon.allow_local_plugin`).
    """
    from asbb_core.ledger.pricing import parse_memory_mb
    from asbb_core.values.durations import format_slurm_time, parse_duration

    wall_time = format_slurm_time(parse_duration(time, field="time"))
    if cpus is not None and (ntasks is not None or cpus_per_task is not None):
        raise typer.BadParameter(
            "--cpus is the whole job's CPUs; give it or -n/-c (sbatch's tasks and CPUs per "
            "task), not both",
            param_hint="--cpus",
        )
    if cpus is None:  # sbatch's meaning: ntasks x cpus-per-task
        cpus = (ntasks or 1) * (cpus_per_task or 1)
    if memory is not None:
        parse_memory_mb(memory, field="memory")  # refuse a bad size before asking
    name = _account(account)
    body: dict[str, Any] = {
        "account": name,
        "partition": partition or os.environ.get("ASBB_DEFAULT_PARTITION") or None,
        "nodes": nodes,
        "cpus": cpus,
        "gpus": gpus,
        "memory": memory,
        "wall_time": wall_time,
        "array_size": array,
        "user_id": _user(),
    }
    with Daemon(url) as daemon:
        answer = daemon.post("/budget/quote", body)
    details = answer.get("details") or {}
    accepted = bool(answer["would_accept"])
    record = {
        "account": name,
        "partition": details.get("partition") or body["partition"],
        "estimated_cost": _money(answer["estimated_cost"]),
        "hold_amount": _money(answer["hold_amount"]),
        "budget_remaining": _money(answer.get("budget_remaining")),
        "would_accept": accepted,
        "message": answer["message"],
    }
    columns = [
        Column("account"),
        Column("partition"),
        Column("estimated_cost", "estimate", money=True),
        Column("hold_amount", "hold", money=True),
        Column("budget_remaining", "left after" if accepted else "available", money=True),
    ]
    emit_record(record, columns, as_json=as_json, json_data={**record, "details": details})
    if not as_json:
        verdict = "[bold green]ACCEPTED[/]" if accepted else "[bold red]REFUSED[/]"
        from rich.markup import escape

        # The daemon's text is data, not markup ("[partitions.x]" must print as it is).
        stdout().print(f"{verdict}: {escape(str(answer['message']))}", soft_wrap=True)
    if not accepted:
        raise typer.Exit(EXIT_OVER_BUDGET)


# ---------------------------------------------------------------- remaining


def remaining(
    account: Annotated[
        str | None,
        typer.Argument(
            metavar="[ACCOUNT]",
            help="The budget account (default: $ASBB_ACCOUNT, else your Slurm default account).",
            show_default=False,
        ),
    ] = None,
    account_option: Annotated[
        str | None,
        typer.Option(
            "--account",
            "-A",
            metavar="A",
            help="The same, as sbatch spells it.",
            show_default=False,
        ),
    ] = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """How much an account has left, in one line:

    `ml-proj: $35,798.87 left of $56,000.00 (36% used, $758.88 held)`

    "Left" is what new jobs may still hold; "% used" counts money spent and money held by
    running jobs. Needs a reader (or admin) token (`ASBB_TOKEN`).
    """
    from asbb_core.values.money import format_money

    if account is not None and account_option is not None and account != account_option:
        raise typer.BadParameter(
            f"ACCOUNT {account} and -A {account_option} disagree: give one", param_hint="-A"
        )
    name = _account(account or account_option)
    with Daemon(url) as daemon:
        found = daemon.get(f"/accounts/{quote(name, safe='')}")
    if as_json:
        print_json(_account_record(found))  # amounts as exact JSON numbers
        return
    stdout().print(
        f"{found['name']}: {format_money(Decimal(found['available']))} left of "
        f"{format_money(Decimal(found['limit']))} ({_share(found):.0f}% used, "
        f"{format_money(Decimal(found['held']))} held)"
    )


def _account_record(found: dict[str, Any]) -> dict[str, Any]:
    return {
        "account": found["name"],
        "status": found["status"],
        **{k: Decimal(found[k]) for k in ("limit", "used", "held", "available")},
        "percent_used": _share(found).quantize(Decimal("0.1")),
        "open_holds": found.get("open_holds"),
    }


def _minute(iso: str) -> str:
    """An ISO time from the API shown to the minute: 2025-03-01 14:05."""
    return iso[:16].replace("T", " ")


# ---------------------------------------------------------------- status

ACCOUNT_COLUMNS = [
    Column("account"),
    Column("status"),
    Column("limit", money=True),
    Column("used", money=True),
    Column("held", money=True),
    Column("available", money=True),
    Column("percent_used", "% used"),
    Column("open_holds", "open holds"),
]
"""The accounts in CSV (and JSON); the table leaves out what fits badly in 80 columns."""
TABLE_COLUMNS = [c for c in ACCOUNT_COLUMNS if c.key not in ("status", "open_holds")]
HOLD_COLUMNS = [
    Column("job_id", "job"),
    Column("account"),
    Column("partition"),
    Column("remaining", "held", money=True),
    Column("created_at", "since (UTC)"),
    Column("expires_at", "expires (UTC)"),
]


def _labelled(row: dict[str, Any]) -> dict[str, Any]:
    """A table row: an account that cannot take jobs says so beside its name."""
    if row["status"] == "active":
        return row
    return {**row, "account": f"{row['account']} ({row['status']})"}


def _my_holds(daemon: Daemon, account: str) -> list[dict[str, Any]]:
    """The open holds of this user's jobs in ``account`` (the API lists holds by account and
    job only, so the user's are picked out here)."""
    me = {_user(), str(os.getuid())}
    mine: list[dict[str, Any]] = []
    offset = 0
    while True:
        rows, total = daemon.page(
            "/holds", account=account, state="open", limit=PAGE, offset=offset
        )
        mine.extend(h for h in rows if h.get("user") in me)
        offset += len(rows)
        if not rows or offset >= total:
            return mine


def status(
    accounts: Annotated[
        list[str] | None,
        typer.Option(
            "--account",
            "-A",
            metavar="A",
            help=(
                "An account to show (repeat for more; default: $ASBB_ACCOUNT, comma-separated, "
                "else your Slurm associations)."
            ),
            show_default=False,
        ),
    ] = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Your accounts -- limit, used, held, available, % used (spent and held) -- and the open
    holds of your jobs in them.

    `--json` gives `{"accounts": [...], "holds": [...]}`; `--csv` the accounts only.
    Needs a reader (or admin) token (`ASBB_TOKEN`).
    """
    names = list(dict.fromkeys(accounts or _env_accounts() or _slurm_accounts()))
    if not names:
        fail("name an account: --account or ASBB_ACCOUNT (no Slurm associations found)")
    with Daemon(url) as daemon:
        found = [daemon.get(f"/accounts/{quote(name, safe='')}") for name in names]
        holds = [h for name in names for h in _my_holds(daemon, name)]
    rows = [_account_record(a) for a in found]
    hold_rows = [
        {
            **h,
            "remaining": Decimal(h["remaining"]),
            "created_at": _minute(h["created_at"]),
            "expires_at": _minute(h["expires_at"]),
        }
        for h in holds
    ]
    if as_json or as_csv:
        emit_rows(
            rows,
            ACCOUNT_COLUMNS,
            as_json=as_json,
            as_csv=as_csv,
            json_data={"accounts": rows, "holds": holds},
        )
        return
    emit_rows([_labelled(r) for r in rows], TABLE_COLUMNS, title="your accounts")
    if hold_rows:
        emit_rows(hold_rows, HOLD_COLUMNS, title=f"open holds of {_user()}'s jobs")
    else:
        stderr().print(f"no open holds of {_user()}'s jobs")


def register(root: typer.Typer) -> None:
    """Add this module's commands to the ``asbb`` app."""
    root.command("quick-check")(quick_check)
    root.command("remaining")(remaining)
    root.command("status")(status)
