"""Strict query strings: a parameter an endpoint does not take is an error, not ignored."""

from __future__ import annotations

from typing import get_args, get_origin

from fastapi import Request

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
