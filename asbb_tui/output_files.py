"""Files the console and the command line write for people (reports): made whole, and never
over an existing file unless asked."""

from __future__ import annotations

import os
from pathlib import Path


def create_file(path: Path, data: bytes, *, replace: bool = False) -> None:
    """Write ``data`` to ``path``. Without ``replace`` the file is created exclusively, so an
    existing one (even one that appears meanwhile) raises FileExistsError and is kept; with
    ``replace`` a whole new file takes the old one's place at once. Other failures raise
    OSError."""
    if not replace:
        with path.open("xb") as handle:
            handle.write(data)
        return
    spare = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        spare.write_bytes(data)
        os.replace(spare, path)
    finally:
        spare.unlink(missing_ok=True)
