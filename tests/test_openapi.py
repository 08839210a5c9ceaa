"""docs/openapi.json is the daemon's API as the code builds it, and the daemon serves it."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from daemon.routes.system import asbb_version
from tests.scripts import load_script

ROOT = Path(__file__).resolve().parent.parent
EXPORTED = ROOT / "docs" / "openapi.json"
HOW_TO_FIX = "run: .venv/bin/python scripts/export_openapi.py (and commit docs/openapi.json)"


@pytest.fixture(scope="module")
def exporter() -> ModuleType:
    return load_script("export_openapi")


@pytest.fixture(scope="module")
def spec(exporter: ModuleType) -> dict[str, Any]:
    current: dict[str, Any] = exporter.current_spec()
    return current


def _operations(spec: dict[str, Any]) -> set[str]:
    return {
        f"{method.upper()} {path}"
        for path, item in spec.get("paths", {}).items()
        for method in item
        if method in ("get", "put", "post", "delete", "patch", "head", "options")
    }


def test_docs_openapi_json_matches_the_code(exporter: ModuleType, spec: dict[str, Any]) -> None:
    assert EXPORTED.exists(), f"{EXPORTED.relative_to(ROOT)} is missing; {HOW_TO_FIX}"
    exported_text = EXPORTED.read_text(encoding="utf-8")
    if exported_text == exporter.render(spec):
        return
    exported = json.loads(exported_text)
    added = sorted(_operations(spec) - _operations(exported))
    removed = sorted(_operations(exported) - _operations(spec))
    changed = sorted(
        path
        for path in set(spec.get("paths", {})) & set(exported.get("paths", {}))
        if spec["paths"][path] != exported["paths"][path]
    )
    pytest.fail(
        "docs/openapi.json is out of date with the daemon's routes "
        f"(operations added: {added or 'none'}; removed: {removed or 'none'}; "
        f"paths changed: {changed or 'none'}; other parts may differ too); {HOW_TO_FIX}",
        pytrace=False,
    )


def test_export_is_stable_and_sorted(exporter: ModuleType, spec: dict[str, Any]) -> None:
    text = exporter.render(spec)
    assert text == exporter.render(exporter.current_spec())  # deterministic
    assert text.endswith("}\n")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_check_mode_reports_a_stale_file(exporter: ModuleType, tmp_path: Path) -> None:
    stale = tmp_path / "openapi.json"
    stale.write_text("{}\n", encoding="utf-8")
    assert exporter.main(["--check", "--output", str(stale)]) == 1
    assert exporter.main(["--output", str(stale)]) == 0
    assert exporter.main(["--check", "--output", str(stale)]) == 0


def test_spec_describes_the_seed_compatible_hot_path(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "asbb"
    assert spec["info"]["version"] == asbb_version()
    operations = _operations(spec)
    for required in (
        "POST /api/v1/budget/check",
        "POST /api/v1/budget/reconcile",
        "GET /health",
        "GET /version",
        "GET /metrics",
    ):
        assert required in operations
    check = spec["paths"]["/api/v1/budget/check"]["post"]
    assert "200" in check["responses"]
    body = spec["components"]["schemas"]["CheckRequest"]
    assert {"account", "wall_time"} <= set(body["required"])
    money = spec["components"]["schemas"]["CheckResponse"]["properties"]["hold_amount"]
    assert money["type"] == "number"  # money is a JSON number on the wire, written exactly


def test_the_daemon_serves_its_spec(live_daemon: Any, spec: dict[str, Any]) -> None:
    with live_daemon.client(None) as anonymous:
        reply = anonymous.get("/openapi.json")
        assert reply.status_code == 200, reply.text
        assert reply.headers["content-type"].startswith("application/json")
        # Both sides read numbers the same way (an example 0.0033 is no exact float).
        assert reply.json() == json.loads(json.dumps(spec), parse_float=Decimal)
        docs = anonymous.get("/docs")
        assert docs.status_code == 200
        assert "openapi.json" in docs.text


def test_every_api_operation_names_the_roles_that_may_call_it(spec: dict[str, Any]) -> None:
    """From daemon.auth.requires, so docs/api.md's Role lines come from the code."""
    roles = {
        f"{method.upper()} {path}": operation.get("x-asbb-roles")
        for path, item in spec["paths"].items()
        if path.startswith("/api/v1/")
        for method, operation in item.items()
    }
    assert roles
    assert [op for op, named in roles.items() if not named] == []
    assert roles["POST /api/v1/budget/check"] == ["admin", "plugin"]
    assert roles["POST /api/v1/asba/budget-status"] == ["admin", "plugin", "reader"]
    assert roles["POST /api/v1/accounts"] == ["admin"]
