"""A cap on request bodies: a body above ``daemon.max_request_bytes`` is refused with 413
before it is read whole (by its Content-Length, or as its chunks arrive), so one client cannot
make the daemon parse megabytes of JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from asbb_core.values.wire import timestamp


class TooLargeError(Exception):
    """The body grew past the cap while it was read."""


class BodyLimit:
    """Pure ASGI middleware (see ``daemon.app.RequestContext`` for why not BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope.get("headers", ()):
            if key == b"content-length" and (not value.isdigit() or int(value) > self.max_bytes):
                await self._refuse(scope, send)
                return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise TooLargeError
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except TooLargeError:
            if not started:  # a chunked body grew past the cap while it was read
                await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        state = scope.get("state") or {}
        body = json.dumps(
            {
                "error": {
                    "code": "request_too_large",
                    "message": f"the request body is larger than {self.max_bytes} bytes "
                    "(daemon.max_request_bytes)",
                    "details": {"max_bytes": self.max_bytes},
                    "field": None,
                },
                "request_id": str(state.get("request_id", "")),
                "timestamp": timestamp(datetime.now(UTC)),
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
