"""Strict query strings: a parameter an endpoint does not take is an error, not ignored."""

from __future__ import annotations

from fastapi import Request

from daemon.errors import ApiError


def known_query_only(request: Request) -> None:
    """Refuse query parameters an endpoint does not take (a typo such as ``?stauts=open``
    would otherwise be ignored and answer with the unfiltered list)."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None:
        return
    allowed = {f.alias for f in dependant.query_params}
    for key in request.query_params:
        if key not in allowed:
            takes = ", ".join(sorted(allowed)) or "none"
            raise ApiError(
                422,
                f"{key or '(empty name)'}: unknown query parameter (this endpoint takes {takes})",
                field=key or None,
            )
