"""docs/api.md is scripts/api_reference.py's rendering of docs/openapi.json, and covers it all."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.scripts import load_script

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "docs" / "openapi.json"
REFERENCE = ROOT / "docs" / "api.md"
HOW_TO_FIX = "run: .venv/bin/python scripts/api_reference.py (and commit docs/api.md)"
METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    return load_script("api_reference")


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SPEC.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def rendered(generator: ModuleType, spec: dict[str, Any]) -> str:
    text: str = generator.render(spec)
    return text


def _operations(spec: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for path, item in spec.get("paths", {}).items()
        for method in item
        if method in METHODS
    ]


def test_docs_api_md_matches_the_spec(rendered: str) -> None:
    assert REFERENCE.exists(), f"{REFERENCE.relative_to(ROOT)} is missing; {HOW_TO_FIX}"
    current = REFERENCE.read_text(encoding="utf-8")
    if current == rendered:
        return
    headings = set(re.findall(r"^### `(.+)`$", rendered, re.MULTILINE))
    written = set(re.findall(r"^### `(.+)`$", current, re.MULTILINE))
    pytest.fail(
        "docs/api.md is out of date with docs/openapi.json "
        f"(sections added: {sorted(headings - written) or 'none'}; "
        f"removed: {sorted(written - headings) or 'none'}; other parts may differ too); "
        f"{HOW_TO_FIX}",
        pytrace=False,
    )


def test_every_path_and_operation_is_in_the_reference(rendered: str, spec: dict[str, Any]) -> None:
    missing_paths = [path for path in spec["paths"] if f" {path}`" not in rendered]
    assert not missing_paths, f"paths missing from the generated reference: {missing_paths}"
    missing_ops = [
        f"{method} {path}"
        for method, path in _operations(spec)
        if f"### `{method} {path}`" not in rendered
    ]
    assert not missing_ops, f"operations without a section: {missing_ops}"


def test_every_tag_and_nested_schema_has_a_section(
    generator: ModuleType, rendered: str, spec: dict[str, Any]
) -> None:
    tags = {
        (op.get("tags") or ["other"])[0] for item in spec["paths"].values() for op in item.values()
    }
    for tag in tags:
        assert f"\n## {tag}\n" in rendered, tag
    for name in generator.Spec(spec).nested_schemas():
        assert f"\n### Schema `{name}`\n" in rendered, name


def test_every_link_points_at_a_heading(generator: ModuleType, rendered: str) -> None:
    slugger = generator.Slugger()
    anchors = {
        slugger.slug(match.group(1).replace("`", ""))
        for match in re.finditer(r"^#+ (.+)$", rendered, re.MULTILINE)
    }
    links = set(re.findall(r"\]\(#([^)]+)\)", rendered))
    assert links, "the reference links nothing"
    assert links <= anchors, f"links to no heading: {sorted(links - anchors)}"


def test_the_error_envelope_is_described_once_at_the_top(rendered: str) -> None:
    errors = rendered.index("\n## Errors\n")
    first_tag = rendered.index("\n## ", errors + 1)
    top = rendered[errors:first_tag]
    for field in ("error.code", "error.message", "error.details", "error.field", "request_id"):
        assert f"`{field}`" in top, field
    assert rendered.count("\n## Errors\n") == 1


def test_output_is_deterministic_whatever_the_key_order(
    generator: ModuleType, spec: dict[str, Any], rendered: str
) -> None:
    assert generator.render(copy.deepcopy(spec)) == rendered

    def reversed_keys(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: reversed_keys(node[k]) for k in reversed(list(node))}
        if isinstance(node, list):
            return [reversed_keys(v) for v in node]
        return node

    assert generator.render(reversed_keys(spec)) == rendered
    assert rendered.endswith("\n")
    assert not rendered.endswith("\n\n")


def test_check_mode_reports_a_stale_file(generator: ModuleType, tmp_path: Path) -> None:
    stale = tmp_path / "api.md"
    stale.write_text("# stale\n", encoding="utf-8")
    assert generator.main(["--check", "--output", str(stale)]) == 1
    assert generator.main(["--output", str(stale)]) == 0
    assert generator.main(["--check", "--output", str(stale)]) == 0
    assert generator.main(["--check", "--spec", str(tmp_path / "none.json")]) == 1


MINI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "mini", "version": "1"},
    "paths": {
        "/things": {
            "post": {
                "tags": ["things"],
                "summary": "Make Thing",
                "description": "Make a thing (admin).",
                "security": [{"HTTPBearer": []}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/ThingIn"}}
                    },
                },
                "responses": {
                    "201": {
                        "description": "Made",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ThingOut"}
                            }
                        },
                    },
                    "409": {
                        "description": "Taken",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ErrorEnvelope"}
                            }
                        },
                    },
                },
            },
            "get": {
                "tags": ["things"],
                "summary": "List Things",
                "security": [{"HTTPBearer": []}],
                "x-asbb-roles": ["reader", "admin"],
                "responses": {"200": {"description": "OK"}},
            },
        },
        "/ping": {"get": {"tags": ["system"], "responses": {"200": {"description": "pong"}}}},
    },
    "components": {
        "schemas": {
            "ThingIn": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "maxLength": 8, "x-aliases": ["thing_name"]},
                    "size": {"$ref": "#/components/schemas/Size"},
                },
            },
            "ThingOut": {"type": "object", "properties": {"id": {"type": "integer"}}},
            "Size": {"type": "string", "enum": ["s", "m"]},
            "ErrorEnvelope": {
                "type": "object",
                "properties": {"error": {"type": "object"}, "request_id": {"type": "string"}},
            },
        }
    },
}


def test_roles_fields_and_aliases_of_a_small_spec(generator: ModuleType) -> None:
    text = generator.render(MINI)
    post = text[text.index("### `POST /things`") :]
    assert "Role: `admin`" in post.split("###")[1]
    get = text[text.index("### `GET /things`") :]
    assert "Role: `admin` or `reader`" in get.split("###")[1]
    ping = text[text.index("### `GET /ping`") :]
    assert "Role: none (no token needed)" in ping
    assert (
        "| `name` | string | yes | Also accepted as `thing_name`. At most 8 characters. |" in text
    )
    assert "| `size` | [Size](#schema-size) | no | One of `s`, `m`. |" in text
    assert "| `id` | integer | no |   |" in text
    assert "Errors: `409`, in the [error envelope](#errors)." in text
    assert "### Schema `Size`" in text


def test_a_reference_to_a_missing_schema_is_an_error(generator: ModuleType) -> None:
    broken = copy.deepcopy(MINI)
    del broken["components"]["schemas"]["ThingOut"]
    with pytest.raises(ValueError, match="ThingOut"):
        generator.render(broken)


@pytest.mark.parametrize(
    ("description", "security", "expected"),
    [
        ("Open an account (admin).", True, "`admin`"),
        (
            "Charge it (aws-slurm-burst's epilog; plugin or admin token).",
            True,
            "`admin` or `plugin`",
        ),
        (
            "Any token may ask; a reader token limited to some accounts only for those.",
            True,
            "any token: `admin`, `plugin`, `reader`",
        ),
        ("A reader token limited to some accounts sees only those.", True, "`admin` or `reader`"),
        (
            "A reader limited to some accounts sees it only when linked.",
            True,
            "`admin` or `reader`",
        ),
        (
            "Price a job and hold its cost.",
            True,
            "a bearer token; the spec does not say which role",
        ),
        ("Prometheus text exposition.", False, "none (no token needed)"),
    ],
)
def test_the_role_is_read_from_the_description(
    generator: ModuleType, description: str, security: bool, expected: str
) -> None:
    operation: dict[str, Any] = {"description": description}
    if security:
        operation["security"] = [{"HTTPBearer": []}]
    assert generator.required_role(operation, generator.Spec({})) == expected
