"""The wire format (asbb_core.values.wire, daemon.wire): exact JSON numbers from Decimals,
RFC 3339 times, and list routes as JSON arrays paged in headers."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Response
from starlette.datastructures import URL

from asbb_core.values.wire import (
    Listing,
    Money,
    Precise,
    View,
    day_timestamp,
    dumps,
    listing,
    loads,
    number_text,
    plain,
    timestamp,
)
from daemon.wire import PAGING_HEADERS, TOTAL_HEADER, WireRoute, page_links
from tests.conftest import serve_in_thread
from tests.wire import D, day, rows_and_total

# ---------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        ("12.50", "12.50"),
        ("3.00", "3.00"),
        ("0.0033", "0.0033"),
        ("999999999999.99", "999999999999.99"),
        ("12345678901234567.89", "12345678901234567.89"),  # more digits than a float holds
        ("-0.01", "-0.01"),
        ("-1250.00", "-1250.00"),
        ("0.00", "0.00"),
        ("0", "0"),
        ("1E+2", "100"),
        ("1.5E+3", "1500"),
        ("0E-4", "0.0000"),
        ("1.5E-7", "0.00000015"),
    ],
)
def test_dumps_writes_a_decimal_digit_for_digit(amount: str, text: str) -> None:
    assert dumps(Decimal(amount)) == text
    assert dumps({"amount": Decimal(amount)}) == '{"amount":' + text + "}"
    assert number_text(Decimal(amount)) == text
    assert "e" not in dumps(Decimal(amount)).lower()  # never an exponent
    back = loads(dumps([Decimal(amount)]))[0]
    assert back == Decimal(amount)
    assert (format(back, "f") if isinstance(back, Decimal) else str(back)) == text


def test_whole_numbers_read_back_as_ints_and_decimals_as_decimals() -> None:
    back = loads(dumps({"count": 3, "money": Decimal("3.00"), "ratio": Decimal("0.0033")}))
    assert back == {"count": 3, "money": Decimal("3.00"), "ratio": Decimal("0.0033")}
    assert type(back["count"]) is int
    assert type(back["money"]) is Decimal
    assert str(back["money"]) == "3.00"


@pytest.mark.parametrize("bad", ["NaN", "-NaN", "sNaN", "Infinity", "-Infinity"])
def test_a_decimal_json_cannot_carry_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a number JSON can carry"):
        dumps({"amount": Decimal(bad)})


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_a_float_json_cannot_carry_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="JSON compliant"):
        dumps([bad])


def test_strings_and_keys_are_escaped() -> None:
    hostile = 'say "hi"\\ then\nnew line\ttab \x01 é ☃'
    text = dumps({hostile: hostile, "plain": "x"})
    assert json.loads(text) == {hostile: hostile, "plain": "x"}
    assert '\\"hi\\"' in text
    assert "\\n" in text
    assert "\\u0001" in text
    assert "\n" not in text  # the newline is escaped, not written raw
    assert "é ☃" in text  # not ASCII-escaped


def test_plain_values_and_containers() -> None:
    class Colour(StrEnum):
        RED = "red"

    token = UUID("12345678-1234-5678-1234-567812345678")
    value = {
        1: (True, None, 7),
        "set": frozenset({"a"}),
        "colour": Colour.RED,
        "uuid": token,
        "nothing": {},
        "empty": [],
    }
    assert plain(value) == {
        "1": [True, None, 7],
        "set": ["a"],
        "colour": "red",
        "uuid": "12345678-1234-5678-1234-567812345678",
        "nothing": {},
        "empty": [],
    }
    assert dumps(value) == (
        '{"1":[true,null,7],"set":["a"],"colour":"red",'
        '"uuid":"12345678-1234-5678-1234-567812345678","nothing":{},"empty":[]}'
    )


def test_indent_and_sort_keys_match_the_standard_library_layout() -> None:
    value = {"b": [1, {"y": "z", "x": None}], "a": {}, "c": []}
    assert dumps(value, indent=2, sort_keys=True) == json.dumps(value, indent=2, sort_keys=True)
    assert dumps(value) == json.dumps(value, separators=(",", ":"))
    assert dumps({"m": Decimal("1.10")}, indent=2) == '{\n  "m": 1.10\n}'


# ---------------------------------------------------------------- times


def test_timestamps_are_rfc3339_in_utc() -> None:
    assert timestamp(datetime(2026, 11, 22, 9, 0, tzinfo=UTC)) == "2026-11-22T09:00:00Z"
    # A naive time is UTC already.
    assert timestamp(datetime(2026, 11, 22, 9, 0)) == "2026-11-22T09:00:00Z"
    # Another zone is converted, across a day boundary too.
    eastern = timezone(timedelta(hours=-5))
    assert timestamp(datetime(2026, 11, 22, 21, 30, tzinfo=eastern)) == "2026-11-23T02:30:00Z"
    india = timezone(timedelta(hours=5, minutes=30))
    assert timestamp(datetime(2026, 1, 1, 3, 0, tzinfo=india)) == "2025-12-31T21:30:00Z"
    # Microseconds are kept.
    precise = datetime(2026, 3, 2, 12, 0, 0, 123456, tzinfo=UTC)
    assert timestamp(precise) == "2026-03-02T12:00:00.123456Z"
    assert datetime.fromisoformat(timestamp(precise)) == precise  # readable back
    for written in (timestamp(precise), timestamp(datetime(2026, 3, 2))):
        assert "+00:00" not in written
        assert written.endswith("Z")


def test_a_day_is_its_midnight() -> None:
    assert day_timestamp(date(2025, 9, 1)) == "2025-09-01T00:00:00Z"
    assert day("2025-09-01") == "2025-09-01T00:00:00Z"
    # plain tells a datetime (a date too, in Python) from a day.
    assert plain({"d": date(2025, 9, 1), "t": datetime(2025, 9, 1, 8)}) == {
        "d": "2025-09-01T00:00:00Z",
        "t": "2025-09-01T08:00:00Z",
    }


# ---------------------------------------------------------------- views


class Line(View):
    what: str
    cost: Money
    rate: Precise


class Invoice(View):
    account: str
    total: Money
    share: Precise
    day: date
    at: datetime
    lines: list[Line]
    tags: dict[str, Money]
    note: str | None = None


def invoice() -> Invoice:
    return Invoice(
        account='lab "A"',
        total=Decimal("999999999999.99"),
        share=Decimal("0.0033"),
        day=date(2025, 9, 1),
        at=datetime(2026, 11, 22, 4, 0, tzinfo=timezone(timedelta(hours=-5))),
        lines=[
            Line(what="cpu", cost=Decimal("12.505"), rate=Decimal("0.0500")),
            Line(what="gpu", cost=Decimal("-3"), rate=Decimal("1E+1")),
        ],
        tags={"credit": Decimal("0")},
    )


def test_nested_views_go_out_exactly() -> None:
    text = dumps(invoice())
    assert text == (
        '{"account":"lab \\"A\\"","total":999999999999.99,"share":0.0033,'
        '"day":"2025-09-01T00:00:00Z","at":"2026-11-22T09:00:00Z",'
        '"lines":[{"what":"cpu","cost":12.50,"rate":0.0500},'  # Money: to the cent, half-even
        '{"what":"gpu","cost":-3.00,"rate":10}],'
        '"tags":{"credit":0.00},"note":null}'
    )
    assert dumps([invoice()]) == "[" + text + "]"
    assert dumps({"page": invoice()}) == '{"page":' + text + "}"


def test_the_schema_of_a_day_is_the_date_time_it_goes_out_as() -> None:
    schema = Invoice.model_json_schema()
    assert schema["properties"]["day"]["format"] == "date-time"
    assert schema["properties"]["at"]["format"] == "date-time"
    assert schema["properties"]["total"]["type"] == "number"
    assert schema["properties"]["share"]["type"] == "number"


def test_record_is_the_wire_form_and_values_the_python_one() -> None:
    record = invoice().record()
    assert record["total"] == D("999999999999.99")
    assert isinstance(record["total"], Decimal)
    assert record["day"] == "2025-09-01T00:00:00Z"
    assert record["lines"][0] == {"what": "cpu", "cost": D("12.50"), "rate": D("0.0500")}
    values = invoice().values()
    assert values["day"] == date(2025, 9, 1)
    assert values["at"] == datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    assert values["lines"][1]["cost"] == D("-3.00")


class Row(View):
    name: str
    amount: Money


class Rows(View):
    items: list[Row]


class RowPage(View):
    items: list[Row]
    total: int
    limit: int
    offset: int


class Cursor(View):
    items: list[Row]
    next_before_id: int | None


class Summary(View):
    items: list[Row]
    note: str


def test_listing_finds_list_views_only() -> None:
    rows = [Row(name="a", amount=Decimal("1")), Row(name="b", amount=Decimal("2"))]
    assert listing(Rows(items=rows)) == Listing(rows, 2)
    assert listing(RowPage(items=rows[:1], total=9, limit=1, offset=3)) == Listing(
        rows[:1], 9, 1, 3
    )
    assert listing(RowPage(items=[], total=0, limit=50, offset=0)) == Listing([], 0, 50, 0)
    # A cursor page does not count its rows; it names the next (older) page.
    assert listing(Cursor(items=rows, next_before_id=4)) == Listing(rows, None, next_before_id=4)
    assert listing(Cursor(items=[], next_before_id=None)) == Listing([], None)
    # A view with other fields beside its items keeps its shape, as does anything else.
    assert listing(Summary(items=rows, note="x")) is None
    assert listing(rows[0]) is None
    assert listing({"items": rows}) is None
    assert listing(rows) is None


# ---------------------------------------------------------------- paging links


def links(header: str) -> dict[str, dict[str, str]]:
    """rel -> the query of its URL."""
    found: dict[str, dict[str, str]] = {}
    for target, rel in re.findall(r'<([^>]*)>; rel="([a-z]+)"', header):
        found[rel] = dict(httpx.URL(target).params)
    assert len(found) == len(header.split(", ")), header
    return found


URL_OF = URL("http://127.0.0.1:8080/api/v1/accounts?status=active&limit=10&offset=20")


def test_page_links_in_the_middle() -> None:
    header = page_links(URL_OF, total=45, limit=10, offset=20)
    assert links(header) == {
        "first": {"status": "active", "limit": "10", "offset": "0"},
        "prev": {"status": "active", "limit": "10", "offset": "10"},
        "next": {"status": "active", "limit": "10", "offset": "30"},
        "last": {"status": "active", "limit": "10", "offset": "40"},
    }
    assert header.startswith("<http://127.0.0.1:8080/api/v1/accounts?")


def test_page_links_at_the_edges() -> None:
    first = links(page_links(URL_OF, total=45, limit=10, offset=0))
    assert set(first) == {"first", "next", "last"}
    assert (first["next"]["offset"], first["last"]["offset"]) == ("10", "40")
    last = links(page_links(URL_OF, total=45, limit=10, offset=40))
    assert set(last) == {"first", "prev", "last"}
    assert (last["prev"]["offset"], last["last"]["offset"]) == ("30", "40")
    exact = links(page_links(URL_OF, total=40, limit=10, offset=30))  # total a multiple
    assert set(exact) == {"first", "prev", "last"}
    assert exact["last"]["offset"] == "30"
    one = links(page_links(URL_OF, total=3, limit=10, offset=0))
    assert one == {"first": one["first"], "last": one["first"]}
    assert one["first"]["offset"] == "0"
    beyond = links(page_links(URL_OF, total=45, limit=10, offset=100))
    assert set(beyond) == {"first", "prev", "last"}
    assert beyond["prev"]["offset"] == "90"


def test_page_links_of_nothing() -> None:
    empty = links(page_links(URL_OF, total=0, limit=10, offset=0))
    assert set(empty) == {"first", "last"}
    assert empty["first"]["offset"] == empty["last"]["offset"] == "0"
    assert page_links(URL_OF, total=5, limit=0, offset=0) == ""


def test_page_links_follow_a_changed_limit() -> None:
    # The request said limit=10&offset=20; a page of 5 from offset 7 links pages of 5.
    header = page_links(URL_OF, total=23, limit=5, offset=7)
    found = links(header)
    assert {rel: (q["offset"], q["limit"]) for rel, q in found.items()} == {
        "first": ("0", "5"),
        "prev": ("2", "5"),
        "next": ("12", "5"),
        "last": ("20", "5"),
    }
    assert all(q["status"] == "active" for q in found.values())  # filters kept
    assert "limit=10" not in header
    # A prev never goes below the first row.
    assert links(page_links(URL_OF, total=23, limit=5, offset=3))["prev"]["offset"] == "0"


# ---------------------------------------------------------------- over HTTP


def test_a_daemon_list_route_pages_an_array_in_headers(
    live_daemon: Any, ledger: Any, ctx: Any
) -> None:
    names = ["wire-a", "wire-b", "wire-c", "wire-d", "wire-e"]
    for i, name in enumerate(names):
        ledger.create_account(name, ctx=ctx, limit=f"{i + 1}2.50")
    with live_daemon.client("admin") as admin:
        reply = admin.get("/api/v1/accounts", params={"q": "wire-", "limit": 2})
        rows, total = rows_and_total(reply)
        assert total == 5
        assert reply.headers[TOTAL_HEADER] == "5"
        assert [r["name"] for r in rows] == ["wire-a", "wire-b"]
        assert [r["limit"] for r in rows] == [D("12.50"), D("22.50")]
        assert '"limit":12.50' in reply.text  # a JSON number, to the cent
        assert rows[0]["created_at"].endswith("Z")
        assert datetime.fromisoformat(rows[0]["created_at"]).tzinfo is not None
        first = links(reply.headers["link"])
        assert set(first) == {"first", "next", "last"}
        assert first["next"] == {"q": "wire-", "limit": "2", "offset": "2"}
        assert first["last"]["offset"] == "4"

        # The next link, followed as it is, fetches the next page.
        target = re.search(r'<([^>]*)>; rel="next"', reply.headers["link"])
        assert target is not None
        second = admin.get(target.group(1))
        rows2, total2 = rows_and_total(second)
        assert total2 == 5
        assert [r["name"] for r in rows2] == ["wire-c", "wire-d"]
        after = links(second.headers["link"])
        assert set(after) == {"first", "prev", "next", "last"}
        assert (after["prev"]["offset"], after["next"]["offset"]) == ("0", "4")

        target = re.search(r'<([^>]*)>; rel="last"', second.headers["link"])
        assert target is not None
        final = admin.get(target.group(1))
        rows3, _ = rows_and_total(final)
        assert [r["name"] for r in rows3] == ["wire-e"]
        assert [r["limit"] for r in rows3] == [D("52.50")]
        assert "next" not in links(final.headers["link"])

        nothing = admin.get("/api/v1/accounts", params={"q": "nobody-"})
        assert rows_and_total(nothing) == ([], 0)
        assert set(links(nothing.headers["link"])) == {"first", "last"}


def test_the_spec_of_a_list_route_is_an_array_with_paging_headers() -> None:
    from tests.scripts import load_script

    spec = load_script("export_openapi").current_spec()
    ok = spec["paths"]["/api/v1/accounts"]["get"]["responses"]["200"]
    schema = ok["content"]["application/json"]["schema"]
    assert schema["type"] == "array"
    assert schema["items"] == {"$ref": "#/components/schemas/AccountView"}
    assert set(ok["headers"]) == {"X-Total-Count", "Link"}
    assert ok["headers"]["X-Total-Count"]["schema"] == {"type": "integer"}
    assert spec["components"]["schemas"]["AccountView"]["properties"]["limit"]["type"] == "number"


router = APIRouter(route_class=WireRoute)


@router.get("/rows", response_model=RowPage)
def list_rows(limit: int = 2, offset: int = 0) -> RowPage:
    every = [Row(name=f"r{i}", amount=Decimal(i) / 4) for i in range(5)]
    return RowPage(items=every[offset : offset + limit], total=5, limit=limit, offset=offset)


@router.get("/all", response_model=Rows)
async def all_rows(response: Response) -> Rows:
    response.headers["X-Seen"] = "yes"
    return Rows(items=[Row(name="only", amount=Decimal("0.10"))])


@router.post("/rows", status_code=201, response_model=Row)
def create_row() -> Row:
    return Row(name="new", amount=Decimal("12.50"))


@router.post("/rehearse", status_code=201, response_model=Row)
def rehearse(response: Response, dry: bool = False) -> Row:
    response.headers["X-Request"] = "41"
    if dry:
        response.status_code = 200
        response.headers["X-Dry-Run"] = "true"
    return Row(name="maybe", amount=Decimal("1E+1"))


@router.post("/async", status_code=202, response_model=Row)
async def later(response: Response) -> Row:
    response.headers["X-Later"] = "soon"
    return Row(name="later", amount=Decimal("0"))


@router.get("/cursor", response_model=Cursor)
def cursor(before_id: int = 4, limit: int = 2) -> Cursor:
    older = [Row(name=f"c{i}", amount=Decimal("2.5")) for i in range(before_id - 1, 0, -1)]
    page = older[:limit]
    more = len(older) > limit
    return Cursor(items=page, next_before_id=int(page[-1].name[1:]) if more else None)


@router.get("/summary", response_model=Summary)
def summary() -> Summary:
    return Summary(items=[Row(name="s", amount=Decimal("1"))], note="kept")


@router.delete("/rows/1", status_code=204)
def delete_row() -> None:
    return None


@router.get("/raw")
def raw() -> Response:
    return Response(content="as it is", media_type="text/plain", status_code=203)


@pytest.fixture(scope="module")
def wired_app() -> Iterator[httpx.Client]:
    app = FastAPI()
    app.include_router(router)
    url, stop = serve_in_thread(app)
    with httpx.Client(base_url=url, timeout=30) as client:
        yield client
    stop()


def test_a_route_keeps_its_status_code(wired_app: httpx.Client) -> None:
    created = wired_app.post("/rows")
    assert created.status_code == 201
    assert created.headers["content-type"] == "application/json"
    assert created.text == '{"name":"new","amount":12.50}'
    assert created.json()["amount"] == D("12.50")
    gone = wired_app.delete("/rows/1")
    assert (gone.status_code, gone.content) == (204, b"")
    verbatim = wired_app.get("/raw")
    assert (verbatim.status_code, verbatim.text) == (203, "as it is")


def test_headers_and_status_set_on_the_response_parameter_are_kept(
    wired_app: httpx.Client,
) -> None:
    made = wired_app.post("/rehearse")
    assert made.status_code == 201
    assert made.headers["x-request"] == "41"
    assert "x-dry-run" not in made.headers
    assert made.text == '{"name":"maybe","amount":10.00}'
    tried = wired_app.post("/rehearse", params={"dry": "true"})
    assert tried.status_code == 200
    assert (tried.headers["x-request"], tried.headers["x-dry-run"]) == ("41", "true")
    assert tried.json() == {"name": "maybe", "amount": D("10.00")}
    waited = wired_app.post("/async")
    assert (waited.status_code, waited.headers["x-later"]) == (202, "soon")
    assert waited.text == '{"name":"later","amount":0.00}'
    # The body's own length wins over any the parameter carried.
    assert int(waited.headers["content-length"]) == len(waited.content)


def test_a_list_route_answers_an_array_with_its_paging(wired_app: httpx.Client) -> None:
    reply = wired_app.get("/rows", params={"offset": 2})
    rows, total = rows_and_total(reply)
    assert total == 5
    assert reply.text == '[{"name":"r2","amount":0.50},{"name":"r3","amount":0.75}]'
    assert [r["amount"] for r in rows] == [D("0.50"), D("0.75")]
    found = links(reply.headers["link"])
    assert {rel: q["offset"] for rel, q in found.items()} == {
        "first": "0",
        "prev": "0",
        "next": "4",
        "last": "4",
    }
    # A whole list (no paging) is an array with its count and no links, and keeps the
    # headers its route set.
    whole = wired_app.get("/all")
    assert rows_and_total(whole) == ([{"name": "only", "amount": D("0.10")}], 1)
    assert "link" not in whole.headers
    assert whole.headers["x-seen"] == "yes"
    # A view with more than its items keeps its shape: an object, no paging headers.
    kept = wired_app.get("/summary")
    assert kept.text == '{"items":[{"name":"s","amount":1.00}],"note":"kept"}'
    assert TOTAL_HEADER.lower() not in kept.headers
    assert "link" not in kept.headers


def test_a_cursor_page_is_an_array_whose_link_names_the_older_page(
    wired_app: httpx.Client,
) -> None:
    newest = wired_app.get("/cursor", params={"limit": 2})
    assert newest.status_code == 200, newest.text
    assert newest.text == '[{"name":"c3","amount":2.50},{"name":"c2","amount":2.50}]'
    assert TOTAL_HEADER.lower() not in newest.headers  # a cursor page does not count
    target = re.fullmatch(r'<([^>]*)>; rel="next"', newest.headers["link"])
    assert target is not None
    assert dict(httpx.URL(target.group(1)).params) == {"limit": "2", "before_id": "2"}
    older = wired_app.get(target.group(1))
    assert older.json() == [{"name": "c1", "amount": D("2.50")}]
    assert "link" not in older.headers  # the oldest page: nothing further


def test_the_spec_of_wired_routes(wired_app: httpx.Client) -> None:
    spec = wired_app.get("/openapi.json").json()
    paged = spec["paths"]["/rows"]["get"]["responses"]["200"]
    assert paged["content"]["application/json"]["schema"]["type"] == "array"
    assert paged["headers"] == json.loads(json.dumps(PAGING_HEADERS))
    whole = spec["paths"]["/all"]["get"]["responses"]["200"]
    assert whole["content"]["application/json"]["schema"]["type"] == "array"
    assert set(whole["headers"]) == {"X-Total-Count", "Link"}
    created = spec["paths"]["/rows"]["post"]["responses"]
    assert "201" in created
    assert "200" not in created
    assert created["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Row"
    }
    by_cursor = spec["paths"]["/cursor"]["get"]["responses"]["200"]
    assert by_cursor["content"]["application/json"]["schema"]["type"] == "array"
    assert "Link" in by_cursor["headers"]
    summary = spec["paths"]["/summary"]["get"]["responses"]["200"]
    assert summary["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Summary"
    }
    assert "headers" not in summary
    amount = spec["components"]["schemas"]["Row"]["properties"]["amount"]
    assert amount["type"] == "number"
