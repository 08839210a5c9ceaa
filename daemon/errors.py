"""One error envelope for every failure, with the field at fault named:

    {"error": {"code", "message", "details", "field"}, "request_id", "timestamp"}

Bad input is 400/422, never a 500: pydantic's errors are translated field by field, and an
unexpected exception is logged with its request id and answered with a 500 envelope.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import DataError, DBAPIError, OperationalError, ProgrammingError
from starlette.exceptions import HTTPException

from asbb_core.values.errors import AsbbError
from asbb_core.values.wire import timestamp
from daemon.wire import WireResponse

log = logging.getLogger("asbb.daemon")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


# A table or column the code expects is not there: PostgreSQL's undefined_table and
# undefined_column, MySQL's 42S02 and 42S22, SQLite's "no such table/column". The schema is
# behind the code.
_MISSING_SQLSTATES = frozenset({"42P01", "42703", "42S02", "42S22"})


def _schema_missing(exc: DBAPIError) -> bool:
    if getattr(exc.orig, "sqlstate", None) in _MISSING_SQLSTATES:
        return True
    text = str(exc.orig)
    return text.startswith(("no such table", "no such column"))


def _schema_not_current(request: Request, exc: DBAPIError) -> Response:
    log.error("database schema not current: %s", str(exc.orig).strip().splitlines()[0:1])
    return envelope(
        request,
        503,
        code="unavailable",
        message="the database schema is not current; run 'asbb database migrate'",
    )


class ApiError(Exception):
    """An error the HTTP layer raises itself (auth, rate limits, request shape)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _STATUS_CODES.get(status, "error")
        self.message = message
        self.field = field
        self.details = details or {}
        self.headers = headers


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or "")


def envelope(
    request: Request,
    status: int,
    *,
    code: str,
    message: str,
    field: str | None = None,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = {
        "error": {"code": code, "message": message, "details": details or {}, "field": field},
        "request_id": request_id_of(request),
        "timestamp": timestamp(datetime.now(UTC)),
    }
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.errors.labels(code=code).inc()
    # The wire's writer: figures in the details are exact JSON numbers, as in any answer.
    return WireResponse(body, status_code=status, headers=headers)


def _field_of(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AsbbError)
    async def _asbb(request: Request, exc: AsbbError) -> Response:
        return envelope(
            request,
            exc.http_status,
            code=exc.code,
            message=exc.message,
            field=exc.field,
            details=exc.details,
        )

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> Response:
        return envelope(
            request,
            exc.status,
            code=exc.code,
            message=exc.message,
            field=exc.field,
            details=exc.details,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return envelope(
                request, 400, code="bad_request", message="the request body is not valid JSON"
            )
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        field = _field_of(tuple(first.get("loc", ())))
        problems = [
            {"field": _field_of(tuple(e.get("loc", ()))), "message": str(e.get("msg", ""))}
            for e in errors
        ]
        message = f"{field}: {first.get('msg')}" if field else str(first.get("msg"))
        return envelope(
            request,
            422,
            code="validation_error",
            message=message,
            field=field,
            details={"problems": problems},
        )

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        return envelope(
            request,
            exc.status_code,
            code=_STATUS_CODES.get(exc.status_code, "error"),
            message=str(exc.detail),
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(DataError)
    async def _unstorable(request: Request, exc: DataError) -> Response:
        # Input the database refuses to store (e.g. a NUL byte in text): the caller's fault.
        return envelope(
            request,
            422,
            code="validation_error",
            message="the request holds a value the database cannot store "
            f"({str(exc.orig).strip().splitlines()[0][:120]})",
        )

    @app.exception_handler(OperationalError)
    async def _database_down(request: Request, exc: OperationalError) -> Response:
        if _schema_missing(exc):
            return _schema_not_current(request, exc)
        log.error("database unavailable: %s", str(exc.orig).strip().splitlines()[0:1])
        return envelope(
            request, 503, code="unavailable", message="the database is unavailable; retry later"
        )

    @app.exception_handler(ProgrammingError)
    async def _bad_sql(request: Request, exc: ProgrammingError) -> Response:
        if _schema_missing(exc):
            return _schema_not_current(request, exc)
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error (request %s)", request_id_of(request))
        return envelope(
            request, 500, code="internal_error", message="internal error; see the daemon's log"
        )
