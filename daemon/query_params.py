"""Strict requests: a query parameter an endpoint does not take is an error, not ignored;
text that no backend stores alike is refused wherever it is, before any handler sees it."""

from __future__ import annotations

import email.message
from typing import get_args, get_origin

from fastapi import Request

from asbb_core.values.text import find_bad_text
from daemon.errors import ApiError


def _takes_many(annotation: object) -> bool:
    return get_origin(annotation) in (list, tuple, set) or any(
        _takes_many(arg) for arg in get_args(annotation)
    )


def known_query_only(request: Request) -> None:
    """Refuse query parameters an endpoint does not take (a typo such as ``?stauts=open``
    would otherwise be ignored and answer with the unfiltered list), and single-valued ones
    given twice (``?until=a&until=b`` would otherwise quietly keep the last)."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None:
        return
    fields = {f.alias: f for f in dependant.query_params}
    allowed = set(fields)
    for key in set(request.query_params):
        field = fields.get(key)
        if (
            field is not None
            and len(request.query_params.getlist(key)) > 1
            and not _takes_many(field.field_info.annotation)
        ):
            raise ApiError(422, f"{key}: given more than once", field=key)
    for key in request.query_params:
        if key not in allowed:
            takes = ", ".join(sorted(allowed)) or "none"
            raise ApiError(
                422,
                f"{key or '(empty name)'}: unknown query parameter (this endpoint takes {takes})",
                field=key or None,
            )


def _json_body(request: Request) -> bool:
    """Whether FastAPI read this request's body as JSON (the same test it makes)."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None or not dependant.body_params:
        return False
    message = email.message.Message()
    message["content-type"] = request.headers.get("content-type", "")
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


async def storable_text_only(request: Request) -> None:
    """Refuse NUL, half a surrogate pair or a control character (``values.text.text_problem``)
    in any path or query parameter or anywhere in a JSON body, naming where it is.

    PostgreSQL refuses NUL in text where SQLite stores it, neither can encode a lone
    surrogate, and an escape sequence in a stored value would drive the terminal of whoever
    reads it; refused here, every field of every endpoint fails alike on both backends
    (fields the core checks -- names, memos, reasons -- are checked there too)."""
    for key, value in (*request.path_params.items(), *request.query_params.multi_items()):
        bad = find_bad_text(value, path=key)
        if bad is not None:
            raise ApiError(422, f"{bad[0]}: {bad[1]}", field=bad[0])
    if not _json_body(request):
        return
    try:
        body = await request.json()  # parsed once already by FastAPI, and kept
    except ValueError:
        return  # not JSON: FastAPI has answered 400 before dependencies run
    bad = find_bad_text(body)
    if bad is not None:
        raise ApiError(422, f"{bad[0]}: {bad[1]}", field=bad[0] or None)
