"""Real Slurm 22.05 output for the tests of asbb's Slurm reader, and a runner that replays it.

``tests/fixtures/slurm/reader_captures.json`` was captured on a real cluster
(tests/slurm/cluster.py) with the very commands ``asbb_core.integrations.slurm`` runs; its
``_about`` and ``jobs`` say what each capture and each job is. ``epilog_captures.json`` holds
what the epilog's own commands printed (other field lists: see plugin/epilog_reconcile.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from asbb_core.integrations.slurm import SQUEUE_FIELDS, SlurmError

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "slurm"
READER: dict[str, Any] = json.loads((FIXTURES / "reader_captures.json").read_text())
EPILOG: dict[str, Any] = json.loads((FIXTURES / "epilog_captures.json").read_text())
VICTIM = READER["victim_hold"]  # job 15's hold, named in the forged jobs 16-18
UNKNOWN_JOB = READER["captures"]["pending"]["squeue_999999_error"]["stderr"].strip()
"""What squeue -j says of a job the controller does not hold (it exits 1)."""


def captured(step: str, name: str) -> str:
    """One capture: ``captured("final", "sacct")``, ``captured("split", "squeue_7")``."""
    text = READER["captures"][step][name]
    assert isinstance(text, str)
    return text


def line_of(text: str, raw_id: str) -> str:
    """The line of a listing about raw job id ``raw_id`` (what ``squeue -j`` prints of it)."""
    (line,) = [x for x in text.splitlines() if x.split("|", 1)[0] == raw_id]
    return line + "\n"


def renumbered(line: str, job_id: str) -> str:
    """A captured line about a (non-array) job, made about job ``job_id``: every id field of
    it changed, whether a squeue line (JobID, ArrayJobID, JobID) or a sacct one (JobID,
    JobIDRaw, JobIDRaw)."""
    parts = line.rstrip("\n").split("|")
    places = (0, 1, 11) if len(parts) == len(SQUEUE_FIELDS) else (0, 1, 10)
    assert len({parts[n] for n in places}) == 1, "not a non-array job's line"
    for n in places:
        parts[n] = job_id
    return "|".join(parts) + "\n"


class FakeSlurm:
    """The runner: answers squeue and sacct with (edited) captured output, records the calls.

    A listing (no ``-j``) gets ``squeue`` / ``sacct``; ``-j ID`` gets ``one[(command, ID)]``
    when given, else what real Slurm prints for a job it does not know: squeue fails with
    "Invalid job id specified", sacct prints nothing.
    """

    def __init__(
        self,
        sacct: str = "",
        squeue: str = "",
        one: Mapping[tuple[str, str], str] | None = None,
    ) -> None:
        self.sacct, self.squeue = sacct, squeue
        self.one = dict(one or {})
        self.calls: list[list[str]] = []
        self.down = False

    def __call__(self, argv: Sequence[str], timeout: float) -> str:
        self.calls.append(list(argv))
        command = Path(argv[0]).name
        if self.down:
            raise SlurmError(f"{command} exited 1: Problem talking to the database")
        if "-j" in argv:
            job = argv[argv.index("-j") + 1]
            if (command, job) in self.one:
                return self.one[(command, job)]
            if command == "squeue":
                raise SlurmError(f"squeue exited 1: {UNKNOWN_JOB}")
            return ""
        return self.squeue if command == "squeue" else self.sacct

    def swap(self, mapping: Mapping[str, str]) -> None:
        """Replace text (hold ids, run times) in every answer."""
        for old, new in mapping.items():
            self.sacct = self.sacct.replace(old, new)
            self.squeue = self.squeue.replace(old, new)
            self.one = {k: v.replace(old, new) for k, v in self.one.items()}

    def commands(self, name: str) -> list[list[str]]:
        return [c for c in self.calls if Path(c[0]).name == name]
