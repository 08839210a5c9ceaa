"""How a route's result becomes a response: the wire format of asbb_core.values.wire.

Every router is an ``APIRouter(route_class=WireRoute)``. A route returns a view (or any
pydantic model); :class:`WireRoute` writes it with ``wire.dumps`` -- money and ratios as JSON
numbers exact to the Decimal, times as RFC 3339 -- instead of FastAPI's own encoder, which
would write Decimals as strings. A list view goes out as a JSON array with its paging in
headers (``X-Total-Count``, and ``Link`` with rel first/prev/next/last), so a client that
expects an array and one that pages both work. The OpenAPI schema says the same: a list
route's response is an array of its rows.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import Any, get_args

from fastapi import Depends, Request, Response
from fastapi.dependencies.utils import get_typed_signature
from fastapi.routing import APIRoute
from starlette.datastructures import URL

from asbb_core.values.wire import dumps, is_listing, listing

MEDIA_TYPE = "application/json"
TOTAL_HEADER = "X-Total-Count"

_URL: ContextVar[URL | None] = ContextVar("asbb_request_url", default=None)

PAGING_HEADERS = {
    TOTAL_HEADER: {
        "description": "Every row that matched, on all pages",
        "schema": {"type": "integer"},
    },
    "Link": {
        "description": 'RFC 8288 links to the other pages: rel="first", "prev", "next", "last"',
        "schema": {"type": "string"},
    },
}


class WireResponse(Response):
    """A JSON body written by ``wire.dumps``."""

    media_type = MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return dumps(content).encode()


def wire_response(
    result: Any, status_code: int, headers: Sequence[tuple[bytes, bytes]] = ()
) -> Response:
    """The response for a route's ``result``: a list view as an array with paging headers."""
    if result is None and status_code == 204:
        response = Response(status_code=204)
    elif (page := listing(result)) is not None:
        response = WireResponse(page.rows, status_code=status_code)
        if page.total is not None:
            response.headers[TOTAL_HEADER] = str(page.total)
        url = _URL.get()
        links = ""
        if url is not None and page.total is not None and page.limit is not None:
            links = page_links(url, total=page.total, limit=page.limit, offset=page.offset or 0)
        elif url is not None and page.next_before_id is not None:
            links = f'<{url.include_query_params(before_id=page.next_before_id)}>; rel="next"'
        if links:
            response.headers["Link"] = links
    else:
        response = WireResponse(result, status_code=status_code)
    for name, value in headers:
        if name.lower() != b"content-length":
            response.raw_headers.append((name, value))
    return response


def page_links(url: URL, *, total: int, limit: int, offset: int) -> str:
    """The ``Link`` header of one page: the same request at other offsets."""
    if limit <= 0:
        return ""
    last = max(0, (total - 1) // limit * limit)
    targets = [("first", 0)]
    if offset > 0:
        targets.append(("prev", max(0, offset - limit)))
    if offset + limit < total:
        targets.append(("next", offset + limit))
    targets.append(("last", last))
    return ", ".join(
        f'<{url.include_query_params(offset=at, limit=limit)}>; rel="{rel}"' for rel, at in targets
    )


async def _remember_url(request: Request) -> None:
    # async: it runs in the request's own context, which the endpoint (and its thread) copies.
    _URL.set(request.url)


_REMEMBER = Depends(_remember_url)


def _response_parameter(endpoint: Callable[..., Any]) -> str | None:
    for parameter in get_typed_signature(endpoint).parameters.values():
        if isinstance(parameter.annotation, type) and issubclass(parameter.annotation, Response):
            return parameter.name
    return None


def wired(endpoint: Callable[..., Any], status_code: int) -> Callable[..., Any]:
    """``endpoint``, answering in the wire format; a Response it returns goes out as it is."""
    if getattr(endpoint, "__asbb_wired__", False):
        return endpoint
    response_name = _response_parameter(endpoint)

    def finish(result: Any, kwargs: dict[str, Any]) -> Any:
        if isinstance(result, Response):
            return result
        # A route that set a status or headers on FastAPI's response parameter keeps them.
        sub = kwargs.get(response_name) if response_name else None
        code = status_code
        headers: Sequence[tuple[bytes, bytes]] = ()
        if isinstance(sub, Response):
            code = sub.status_code or status_code
            headers = sub.raw_headers
        return wire_response(result, code, headers)

    if inspect.iscoroutinefunction(endpoint):

        @functools.wraps(endpoint)
        async def answer_async(*args: Any, **kwargs: Any) -> Any:
            return finish(await endpoint(*args, **kwargs), kwargs)

        answer: Callable[..., Any] = answer_async
    else:

        @functools.wraps(endpoint)
        def answer_sync(*args: Any, **kwargs: Any) -> Any:
            return finish(endpoint(*args, **kwargs), kwargs)

        answer = answer_sync
    answer.__asbb_wired__ = True  # type: ignore[attr-defined]
    return answer


def _listed(model: Any) -> Any:
    """A list view's response model as the array it goes out as."""
    if is_listing(model):
        (row,) = get_args(model.model_fields["items"].annotation) or (Any,)
        return list[row]  # type: ignore[valid-type]
    return None


class WireRoute(APIRoute):
    """A route that answers in the wire format (see the module's docstring)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        status_code = options.get("status_code") or 200
        listed = _listed(options.get("response_model"))
        if listed is not None:
            page_model = options["response_model"]
            options["response_model"] = listed
            responses = dict(options.get("responses") or {})
            ok = dict(responses.get(status_code, {}))
            paging = dict(PAGING_HEADERS)
            if "next_before_id" in page_model.model_fields:
                paging.pop(TOTAL_HEADER)  # a cursor page does not count its rows
            ok["headers"] = {**paging, **ok.get("headers", {})}
            responses[status_code] = ok
            options["responses"] = responses
            dependencies = list(options.get("dependencies") or [])
            if _REMEMBER not in dependencies:
                dependencies.append(_REMEMBER)
            options["dependencies"] = dependencies
        super().__init__(path, wired(endpoint, status_code), **options)
