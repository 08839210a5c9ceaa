#!/usr/bin/env python3
"""Write docs/api.md, the HTTP API reference, from docs/openapi.json.

docs/openapi.json is the daemon's OpenAPI document as scripts/export_openapi.py exports it.
This script turns it into Markdown: the error envelope once at the top, then the operations
grouped by tag, each with its method and path, summary and description, the role it needs (as
far as the spec says), its parameters, and the fields of its request body and of its responses
(``$ref`` resolved into ``components/schemas``), then the nested schemas those refer to. It
reads the spec only (standard library, nothing imported from asbb), and everything is sorted,
so the same spec always gives the same text.

    .venv/bin/python scripts/api_reference.py          # rewrite docs/api.md
    .venv/bin/python scripts/api_reference.py --check  # exit 1 if docs/api.md is out of date

After changing an endpoint: run scripts/export_openapi.py first, then this script;
tests/test_api_reference.py fails until docs/api.md matches docs/openapi.json.

Roles: the spec carries only "bearer token" (``security``). An operation's role is taken from
an ``x-asbb-roles`` list on the operation when there is one; else from its description
("(admin)", "any token", "plugin or admin token", a mention of readers); else it is reported
as not stated.
Aliases: pydantic's JSON schema does not carry validation aliases; a property's
``x-aliases`` list is shown when the spec has one.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "docs" / "openapi.json"
TARGET = ROOT / "docs" / "api.md"
REGENERATE = ".venv/bin/python scripts/api_reference.py"

METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")
PARAMETER_PLACES = ("path", "query", "header", "cookie")
SCHEMA_PREFIX = "#/components/schemas/"
ERROR_SCHEMA = "ErrorEnvelope"
ROLE_EXTENSION = "x-asbb-roles"
ROLES = ("admin", "plugin", "reader")
ROLE_LIST = re.compile(
    r"\b((?:admin|plugin|reader)(?:(?:\s*,\s*|\s+or\s+|\s+and\s+)(?:admin|plugin|reader))*)"
    r"\s+tokens?\b",
    re.IGNORECASE,
)
ALIAS_EXTENSION = "x-aliases"
HAND_WRITTEN = (
    "<!-- Hand-written sections below: scripts/api_reference.py keeps them as they are. -->"
)
"""docs/api.md from this line on is prose people write (compatibility notes and the like):
each regeneration keeps it, and lists its ``## `` headings in the contents."""
MAX_INLINE_DEPTH = 4


# ---------------------------------------------------------------- small helpers


def ref_name(ref: str) -> str:
    if not ref.startswith(SCHEMA_PREFIX):
        raise ValueError(f"unsupported $ref {ref!r} (only {SCHEMA_PREFIX}... is resolved)")
    return ref[len(SCHEMA_PREFIX) :]


def one_line(text: str | None) -> str:
    """Collapse whitespace, so a docstring fits in one table cell."""
    return " ".join((text or "").split())


def cell(text: str) -> str:
    """Text for a Markdown table cell: one line, pipes escaped (also inside code spans)."""
    return one_line(text).replace("|", "\\|") or " "


def plain(value: Any) -> Any:
    """Numbers as people write them: 1.0 -> 1 (JSON Schema bounds often come as floats)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def code(value: Any) -> str:
    """An inline code span; an empty string shows as ``""``."""
    value = plain(value)
    text = value if isinstance(value, str) and value else json.dumps(value, sort_keys=True)
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def table(headers: list[str], rows: Iterable[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return lines


class Slugger:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, and a
    ``-1``, ``-2``... suffix for a repeated heading (in document order)."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    @staticmethod
    def base(text: str) -> str:
        text = text.strip().lower()
        text = re.sub(r"[^\w\- ]", "", text)
        return text.replace(" ", "-")

    def slug(self, text: str) -> str:
        base = self.base(text)
        count = self.seen.get(base, 0)
        self.seen[base] = count + 1
        return base if count == 0 else f"{base}-{count}"


def schema_heading(name: str) -> str:
    return f"Schema {name}"


# ---------------------------------------------------------------- the spec


class Spec:
    """Read access to one OpenAPI document."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.schemas: dict[str, Any] = data.get("components", {}).get("schemas", {})
        self.anchors: dict[str, str] = {}
        """Schema name -> anchor, for the schemas the appendix shows."""

    def schema(self, name: str) -> dict[str, Any]:
        try:
            found: dict[str, Any] = self.schemas[name]
        except KeyError:
            raise ValueError(f"$ref to {name!r}, which components/schemas lacks") from None
        return found

    def resolve(self, schema: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
        """(name, schema) of a ``$ref`` (name None for an inline schema)."""
        if "$ref" in schema:
            name = ref_name(schema["$ref"])
            return name, self.schema(name)
        return None, schema

    def operations(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(path, method, operation), sorted by path then method."""
        order = {m: n for n, m in enumerate(METHODS)}
        for path in sorted(self.data.get("paths", {})):
            item = self.data["paths"][path]
            for method in sorted((m for m in item if m in order), key=order.__getitem__):
                yield path, method, item[method]

    def tags(self) -> list[str]:
        return sorted({tag_of(op) for _, _, op in self.operations()})

    def nested_schemas(self) -> list[str]:
        """Schemas referred to from inside another schema (they get their own section)."""
        found: set[str] = set()
        for name, schema in self.schemas.items():
            found |= {ref for ref in refs_in(schema) if ref != name}
        if ERROR_SCHEMA in self.schemas:
            found.add(ERROR_SCHEMA)
        return sorted(found)


def refs_in(node: Any) -> set[str]:
    out: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                out.add(ref_name(value))
            else:
                out |= refs_in(value)
    elif isinstance(node, list):
        for value in node:
            out |= refs_in(value)
    return out


def tag_of(operation: dict[str, Any]) -> str:
    tags = operation.get("tags") or ["other"]
    return str(tags[0])


# ---------------------------------------------------------------- types and notes


def branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return list(schema[key])
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return [schema["allOf"][0]]
    return []


def type_of(schema: dict[str, Any], spec: Spec) -> str:
    """A short Markdown type: ``string``, ``integer or null``, ``array of [X](#...)``."""
    if "$ref" in schema:
        name = ref_name(schema["$ref"])
        anchor = spec.anchors.get(name)
        return f"[{name}](#{anchor})" if anchor else code(name)
    parts = branches(schema)
    if parts:
        names: list[str] = []
        for part in parts:
            name = type_of(part, spec)
            if name not in names:
                names.append(name)
        return " or ".join(names)
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(type_of({**schema, "type": k}, spec) for k in kind)
    if kind == "array":
        items = schema.get("items")
        return f"array of {type_of(items, spec)}" if isinstance(items, dict) and items else "array"
    if kind == "object" or "properties" in schema or "additionalProperties" in schema:
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and extra and "properties" not in schema:
            return f"object of {type_of(extra, spec)}"
        return "object"
    if kind:
        fmt = schema.get("format")
        return f"{kind} ({fmt})" if fmt else str(kind)
    if "enum" in schema:
        return "enum"
    if "const" in schema:
        return f"constant {code(schema['const'])}"
    return "any"


def _range(schema: dict[str, Any], low: str, high: str, unit: str) -> str | None:
    lo, hi = plain(schema.get(low)), plain(schema.get(high))
    if lo is None and hi is None:
        return None
    if lo is not None and hi is not None:
        return f"{lo} to {hi} {unit}".rstrip() if lo != hi else f"exactly {lo} {unit}".rstrip()
    if lo is not None:
        return f"at least {lo} {unit}".rstrip()
    return f"at most {hi} {unit}".rstrip()


def notes_of(schema: dict[str, Any], spec: Spec, depth: int = 0) -> list[str]:
    """Constraints worth a reader's attention: enum, default, lengths, bounds, pattern."""
    out: list[str] = []
    if "$ref" in schema and depth < 2:
        _, target = spec.resolve(schema)
        if "enum" in target:
            out.append("one of " + ", ".join(code(v) for v in target["enum"]))
    for part in branches(schema):
        out += [n for n in notes_of(part, spec, depth + 1) if n not in out]
    if "enum" in schema:
        out.append("one of " + ", ".join(code(v) for v in schema["enum"]))
    if "default" in schema:
        out.append(f"default {code(schema['default'])}")
    length = _range(schema, "minLength", "maxLength", "characters")
    if length:
        out.append(length)
    items = _range(schema, "minItems", "maxItems", "items")
    if items:
        out.append(items)
    bounds = _range(schema, "minimum", "maximum", "")
    if bounds:
        out.append(bounds)
    if "exclusiveMinimum" in schema:
        out.append(f"more than {plain(schema['exclusiveMinimum'])}")
    if "exclusiveMaximum" in schema:
        out.append(f"less than {plain(schema['exclusiveMaximum'])}")
    if "pattern" in schema:
        out.append(f"pattern {code(schema['pattern'])}")
    if schema.get("examples"):
        out.append("e.g. " + ", ".join(code(v) for v in schema["examples"]))
    return out


def describe(schema: dict[str, Any], spec: Spec) -> str:
    """A property's description, then its aliases and notes."""
    text = one_line(schema.get("description"))
    if not text and "$ref" not in schema:
        for part in branches(schema):
            text = one_line(part.get("description"))
            if text:
                break
    pieces = [text.rstrip(".") + "." if text else ""]
    aliases = schema.get(ALIAS_EXTENSION)
    if isinstance(aliases, list) and aliases:
        pieces.append("Also accepted as " + ", ".join(code(a) for a in aliases) + ".")
    notes = notes_of(schema, spec)
    if notes:
        text_notes = "; ".join(notes)
        pieces.append(text_notes[0].upper() + text_notes[1:] + ".")
    return " ".join(p for p in pieces if p)


# ---------------------------------------------------------------- fields


def field_rows(
    schema: dict[str, Any], spec: Spec, prefix: str = "", depth: int = 0
) -> list[list[str]]:
    """One row per property (field, type, required, description); inline objects nest."""
    _, target = spec.resolve(schema)
    required = set(target.get("required", []))
    rows: list[list[str]] = []
    for name in sorted(target.get("properties", {})):
        prop = target["properties"][name]
        label = f"{prefix}{name}"
        rows.append(
            [
                code(label),
                type_of(prop, spec),
                "yes" if name in required else "no",
                describe(prop, spec),
            ]
        )
        if "$ref" not in prop and "properties" in prop and depth < MAX_INLINE_DEPTH:
            rows += field_rows(prop, spec, f"{label}.", depth + 1)
    return rows


def fields_block(schema: dict[str, Any], spec: Spec) -> list[str]:
    """The field table of an object schema (of its items for an array), or nothing."""
    _, target = spec.resolve(schema)
    lead = ""
    if target.get("type") == "array" and isinstance(target.get("items"), dict):
        _, target = spec.resolve(target["items"])
        lead = "Each item:"
    if not target.get("properties"):
        return []
    lines = [lead, ""] if lead else []
    return lines + table(["field", "type", "required", "description"], field_rows(target, spec))


# ---------------------------------------------------------------- roles


def required_role(operation: dict[str, Any], spec: Spec) -> str:
    roles = operation.get(ROLE_EXTENSION)
    if isinstance(roles, list) and roles:
        return " or ".join(code(r) for r in sorted(roles))
    security = operation.get("security", spec.data.get("security"))
    if not security:
        return "none (no token needed)"
    text = one_line(operation.get("description"))
    named = set(re.findall(r"\((admin|plugin|reader)\)", text))
    if named:  # "(admin)", "(plugin)": an admin token may always call it too
        return " or ".join(code(r) for r in sorted(named | {"admin"}))
    if re.search(r"\bany token\b", text, re.IGNORECASE):
        return "any token: " + ", ".join(code(r) for r in ROLES)
    listed = set()  # "plugin or admin token", "a reader token limited to ..."
    for match in ROLE_LIST.finditer(text):
        listed |= set(re.findall(r"admin|plugin|reader", match.group(1).lower()))
    if listed:
        return " or ".join(code(r) for r in sorted(listed | {"admin"}))
    if re.search(r"\breaders?\b", text, re.IGNORECASE):  # "a reader limited to ..."
        return f"{code('admin')} or {code('reader')}"
    return "a bearer token; the spec does not say which role"


# ---------------------------------------------------------------- operations


def is_error_response(response: dict[str, Any]) -> bool:
    content = response.get("content") or {}
    if not content:
        return False
    return all(
        media.get("schema", {}).get("$ref") == SCHEMA_PREFIX + ERROR_SCHEMA
        for media in content.values()
    )


def status_key(status: str) -> tuple[int, str]:
    return (int(status), "") if status.isdigit() else (10_000, status)


def parameter_rows(operation: dict[str, Any], spec: Spec) -> list[list[str]]:
    params = [p for p in operation.get("parameters", []) if "$ref" not in p]
    place = {name: n for n, name in enumerate(PARAMETER_PLACES)}
    params = sorted(params, key=lambda p: place.get(p.get("in", ""), len(place)))  # stable
    rows = []
    for param in params:
        schema = param.get("schema", {})
        merged = {**schema, "description": param.get("description") or schema.get("description")}
        rows.append(
            [
                code(param["name"]),
                str(param.get("in", "")),
                type_of(schema, spec),
                "yes" if param.get("required") else "no",
                describe(merged, spec),
            ]
        )
    return rows


def media_lines(label: str, content: dict[str, Any], spec: Spec) -> list[str]:
    lines: list[str] = []
    kinds = sorted(content)
    if len(kinds) > 1:
        lines += [f"{label}, as one of:", ""]
    for media in kinds:
        schema = content[media].get("schema") or {}
        shown = type_of(schema, spec) if schema else "any"
        if len(kinds) > 1:
            lines.append(f"- {code(media)}: {shown}")
        else:
            lines += [f"{label} ({code(media)}): {shown}", ""]
    if len(kinds) > 1:
        lines.append("")
    for media in kinds:
        schema = content[media].get("schema") or {}
        block = fields_block(schema, spec) if schema else []
        if block:
            if len(kinds) > 1:
                lines += [f"Fields of the {code(media)} body:", ""]
            lines += [*block, ""]
    return lines


def operation_lines(path: str, method: str, operation: dict[str, Any], spec: Spec) -> list[str]:
    lines: list[str] = []
    summary = one_line(operation.get("summary"))
    if summary:
        lines += [f"**{summary}**", ""]
    if operation.get("deprecated"):
        lines += ["*Deprecated.*", ""]
    description = (operation.get("description") or "").strip()
    if description:
        lines += [" ".join(description.split()), ""]
    lines += [f"Role: {required_role(operation, spec)}", ""]

    rows = parameter_rows(operation, spec)
    if rows:
        lines += ["Parameters:", ""]
        lines += table(["name", "in", "type", "required", "description"], rows)
        lines.append("")

    body = operation.get("requestBody")
    if body:
        need = "required" if body.get("required") else "optional"
        lines += media_lines(f"Request body, {need}", body.get("content") or {}, spec)

    errors: list[str] = []
    for status in sorted(operation.get("responses", {}), key=status_key):
        response = operation["responses"][status]
        if is_error_response(response):
            errors.append(status)
            continue
        what = one_line(response.get("description"))
        content = response.get("content") or {}
        label = f"Response {code(status)} {what}".rstrip()
        if content:
            lines += media_lines(label, content, spec)
        else:
            lines += [f"{label}: no body described", ""]
    if errors:
        listed = ", ".join(code(s) for s in errors)
        lines += [f"Errors: {listed}, in the [error envelope](#errors).", ""]
    return lines


# ---------------------------------------------------------------- the document


def error_section(spec: Spec) -> list[str]:
    if ERROR_SCHEMA not in spec.schemas:
        return ["The spec describes no error envelope.", ""]
    envelope = spec.schema(ERROR_SCHEMA)
    lines = [
        one_line(envelope.get("description")) or "Errors share one shape.",
        "",
        "Every error response of the operations below has this body "
        f"([{ERROR_SCHEMA}](#{spec.anchors[ERROR_SCHEMA]})):",
        "",
    ]
    rows = []
    for name in sorted(envelope.get("properties", {})):
        prop = envelope["properties"][name]
        required = "yes" if name in envelope.get("required", []) else "no"
        rows.append([code(name), type_of(prop, spec), required, describe(prop, spec)])
        if "$ref" in prop:
            _, inner = spec.resolve(prop)
            for inner_name in sorted(inner.get("properties", {})):
                inner_prop = inner["properties"][inner_name]
                rows.append(
                    [
                        code(f"{name}.{inner_name}"),
                        type_of(inner_prop, spec),
                        "yes" if inner_name in inner.get("required", []) else "no",
                        describe(inner_prop, spec),
                    ]
                )
    lines += table(["field", "type", "required", "description"], rows)
    lines.append("")
    meanings: dict[str, set[str]] = {}
    for _, _, operation in spec.operations():
        for status, response in operation.get("responses", {}).items():
            if is_error_response(response):
                meanings.setdefault(status, set()).add(one_line(response.get("description")))
    if meanings:
        lines += ["The statuses that carry it:", ""]
        lines += table(
            ["status", "meaning"],
            [[code(s), "; ".join(sorted(meanings[s]))] for s in sorted(meanings, key=status_key)],
        )
        lines.append("")
    return lines


def auth_section(spec: Spec) -> list[str]:
    schemes = spec.data.get("components", {}).get("securitySchemes", {})
    lines: list[str] = []
    if schemes:
        lines += ["Security schemes in the spec:", ""]
        rows = []
        for name in sorted(schemes):
            scheme = schemes[name]
            kind = " ".join(str(scheme.get(k)) for k in ("type", "scheme") if scheme.get(k))
            rows.append([code(name), kind, one_line(scheme.get("description"))])
        lines += table(["name", "type", "description"], rows)
        lines.append("")
    open_ops = [
        f"{code(m.upper() + ' ' + p)}"
        for p, m, op in spec.operations()
        if not op.get("security", spec.data.get("security"))
    ]
    if open_ops:
        lines += ["Without a token: " + ", ".join(open_ops) + ".", ""]
    lines += [
        "Token roles (`asbb token create NAME --role ROLE`): `plugin` for slurmctld's plugin "
        "and epilog (budget check and reconcile), `reader` (read-only, optionally limited to "
        "some accounts), `admin` (everything). Each operation's *Role* line says what its spec "
        f"entry states: an `{ROLE_EXTENSION}` list when there is one, else its description "
        '("(admin)", "any token", "plugin or admin token", a mention of readers); an `admin` '
        "token may call every operation. A token of the wrong role gets `403`, a missing or "
        "revoked one `401`.",
        "",
    ]
    return lines


def schema_lines(name: str, spec: Spec) -> list[str]:
    schema = spec.schema(name)
    lines: list[str] = []
    description = one_line(schema.get("description"))
    if description:
        lines += [description, ""]
    if "enum" in schema:
        kind = schema.get("type", "enum")
        values = ", ".join(code(v) for v in schema["enum"])
        lines += [f"{kind}, one of {values}", ""]
        return lines
    block = fields_block({"$ref": SCHEMA_PREFIX + name}, spec)
    if block:
        lines += [*block, ""]
    else:
        lines += [f"Type: {type_of(schema, spec)}", ""]
    return lines


def hand_written(path: Path = TARGET) -> str:
    """The hand-written tail of ``path`` (from the ``HAND_WRITTEN`` line on), or ""."""
    if not path.exists():
        return ""
    text = path.read_text(encoding="utf-8")
    at = text.find(HAND_WRITTEN)
    return text[at:].rstrip("\n") + "\n" if at >= 0 else ""


def render(data: dict[str, Any], tail: str | None = None) -> str:
    """The whole of docs/api.md for this OpenAPI document, ending with ``tail`` (default: the
    hand-written sections of the docs/api.md there is)."""
    tail = hand_written() if tail is None else tail
    spec = Spec(data)
    slugger = Slugger()
    info = data.get("info", {})
    title = f"{info.get('title', 'API')} HTTP API reference"
    slugger.slug(title)
    slugger.slug("Contents")

    toc: list[tuple[int, str, str]] = []
    body: list[str] = []

    def heading(level: int, text: str, shown: str | None = None) -> str:
        anchor = slugger.slug(text)
        toc.append((level, shown or text, anchor))
        body.extend(["#" * level + " " + (shown or text), ""])
        return anchor

    # Anchors of the appendix are needed before it is written: reserve them in the order the
    # headings will appear (auth, errors, the tags and their operations, then the schemas).
    plan = Slugger()
    plan.slug(title)
    plan.slug("Contents")
    plan.slug("Authentication and roles")
    plan.slug("Errors")
    ordered = sorted(spec.operations(), key=lambda o: tag_of(o[2]))  # stable: path order kept
    for tag in spec.tags():
        plan.slug(tag)
        for path, method, op in ordered:
            if tag_of(op) == tag:
                plan.slug(f"{method.upper()} {path}")
    plan.slug("Schemas")
    for name in spec.nested_schemas():
        spec.anchors[name] = plan.slug(schema_heading(name))

    heading(2, "Authentication and roles")
    body += auth_section(spec)
    heading(2, "Errors")
    body += error_section(spec)
    for tag in spec.tags():
        heading(2, tag)
        ops = [(p, m, o) for p, m, o in ordered if tag_of(o) == tag]
        start = len(body)
        body.append("")  # the list of the tag's operations goes here, once their anchors exist
        links = []
        for path, method, op in ops:
            text = f"{method.upper()} {path}"
            anchor = heading(3, text, code(text))
            links.append(f"- [{code(text)}](#{anchor}) {one_line(op.get('summary'))}".rstrip())
            body += operation_lines(path, method, op, spec)
        body[start : start + 1] = [*links, ""]
    heading(2, "Schemas")
    body += [
        "The objects the tables above refer to (the types of nested fields, and the error "
        "envelope).",
        "",
    ]
    for name in spec.nested_schemas():
        anchor = heading(3, schema_heading(name), f"Schema {code(name)}")
        if anchor != spec.anchors[name]:  # the plan and the document must agree
            raise RuntimeError(f"anchor of {name}: planned {spec.anchors[name]}, got {anchor}")
        body += schema_lines(name, spec)

    for line in tail.splitlines():
        if line.startswith("## "):
            toc.append((2, line[3:].strip(), slugger.slug(line[3:])))

    version = info.get("version", "?")
    header = [
        f"# {title}",
        "",
        "<!-- Generated by scripts/api_reference.py from docs/openapi.json: do not edit by hand. "
        f"Regenerate: {REGENERATE} -->",
        "",
        f"Generated from `docs/openapi.json` (version {version}, OpenAPI "
        f"{data.get('openapi', '?')}) by `scripts/api_reference.py`; the daemon serves the same "
        "document at `/openapi.json`.",
        "",
    ]
    if info.get("summary"):
        header += [one_line(info["summary"]), ""]
    if info.get("description"):
        header += [one_line(info["description"]), ""]
    contents = ["## Contents", ""]
    for level, text, anchor in toc:
        if level == 2:
            contents.append(f"- [{text}](#{anchor})")
    contents.append("")
    lines = header + contents + body
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n" + ("\n" + tail if tail else "")


def load_spec(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the output is out of date"
    )
    parser.add_argument("--spec", type=Path, default=SPEC, help=f"default: {SPEC}")
    parser.add_argument("--output", type=Path, default=TARGET, help=f"default: {TARGET}")
    args = parser.parse_args(argv)
    spec_path: Path = args.spec
    output: Path = args.output
    if not spec_path.is_file():
        print(f"{spec_path} does not exist; run: scripts/export_openapi.py", file=sys.stderr)
        return 1
    text = render(load_spec(spec_path), hand_written(output))
    if args.check:
        if not output.exists() or output.read_text(encoding="utf-8") != text:
            print(f"{output} is out of date with {spec_path}; run: {REGENERATE}", file=sys.stderr)
            return 1
        print(f"{output} is up to date")
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(f"wrote {output} ({text.count(chr(10))} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
