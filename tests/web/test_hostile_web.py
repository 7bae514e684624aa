"""Hostile input at the web boundary (issue 9, classes 2 and 3), on SQLite and PostgreSQL.

Every parameter has a type and a range: a value outside them is a 400 naming the
parameter (JSON {"error", "param"} under /api/), never a 500 or a traceback; and
`?next=` after sign-in leads only to a path of this site.
"""

from __future__ import annotations

import unicodedata
from datetime import date
from urllib.parse import quote, quote_from_bytes, unquote, urlsplit

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict
from werkzeug.urls import iri_to_uri

from web import params
from web.security import safe_next

PASSWORD = "correct horse battery"
HOSTILE_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

NAMED_NEXT = (
    "/\t/evil.example",
    "//evil.example",
    "/%09/evil.example",
    "https://evil.example",
    "/\n",
    "\\evil.example",
    "/\\evil.example",
    "/\r\n/evil.example",
    "/%2F/evil.example",
    "/\\\\evil.example",
    "\t//evil.example",
    "/\u3000/evil.example",
    "/\u2028/evil.example",
    "https:/evil.example",
    "javascript:alert(1)",
    "/x" * 2000,
)


def _same_site(location: str) -> bool:
    """What a browser would make of Location: a path on the host it asked."""
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F or ch == "\\" for ch in location):
        return False
    parts = urlsplit(location)
    decoded = unquote(location)
    return (
        location.startswith("/")
        and not location.startswith("//")
        and not parts.scheme
        and not parts.netloc
        and not decoded.startswith(("//", "/\\"))
    )


def _post_login(client, next_query: str):
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    return client.post(
        "/login?next=" + next_query,
        data={"username": "lead", "password": PASSWORD, "csrf_token": token},
    )


# --- ?next= ------------------------------------------------------------------------


def test_named_next_targets_fall_back_to_the_landing_page(client, web_users) -> None:
    for target in NAMED_NEXT:
        r = _post_login(client, quote(target, safe=""))
        assert r.status_code == 302, target
        assert r.headers["Location"] == "/board", target
    # and a raw one, as a browser might send it undecoded
    for raw in ("/%09/evil.example", "//evil.example", "/\\evil.example"):
        r = _post_login(client, raw)
        assert r.headers["Location"] == "/board", raw


def test_a_path_of_this_site_is_followed(client, web_users) -> None:
    r = _post_login(client, quote("/calls?outcome=answered&page=2", safe=""))
    assert r.headers["Location"] == "/calls?outcome=answered&page=2"
    r = _post_login(client, quote("/reports?from=2026-11-01", safe=""))
    assert r.headers["Location"] == "/reports?from=2026-11-01"


def test_a_protected_page_sends_back_to_itself_after_sign_in(client, web_users) -> None:
    r = client.get("/calls?outcome=answered")
    login_url = r.headers["Location"]
    assert login_url.startswith("/login?next=")
    page = client.get(login_url).get_data(as_text=True)
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = client.post(login_url, data={"username": "lead", "password": PASSWORD, "csrf_token": token})
    assert r.headers["Location"] == "/calls?outcome=answered"


@HOSTILE_SETTINGS
@given(target=st.text(max_size=60) | st.sampled_from(NAMED_NEXT))
@example(target="/\t/evil.example")
@example(target="/\n")
def test_login_redirect_is_always_a_path_of_this_site_text(client, web_users, target) -> None:
    r = _post_login(client, quote(target.encode("utf-8", "surrogatepass"), safe=""))
    assert r.status_code == 302
    assert _same_site(r.headers["Location"]), r.headers["Location"]


@HOSTILE_SETTINGS
@given(raw=st.binary(max_size=40))
def test_login_redirect_is_always_a_path_of_this_site_bytes(client, web_users, raw) -> None:
    """Any bytes in ?next=, percent-encoded or half raw (invalid UTF-8 included)."""
    r = _post_login(client, quote_from_bytes(raw, safe="/\\:%?#&="))
    assert r.status_code == 302
    assert _same_site(r.headers["Location"]), r.headers["Location"]


@given(target=st.text(max_size=80))
@example(target="/\t/evil.example")
@settings(max_examples=500, deadline=None)
def test_safe_next_accepts_only_site_paths(target) -> None:
    got = safe_next(target)
    if got is not None:
        assert got == target
        assert _same_site(iri_to_uri(got))
        assert not any(unicodedata.category(ch)[0] in "CZ" for ch in got)


# --- out-of-range values: each named, each a 400 -------------------------------------

BIG = str(2**63)
API_CASES = [
    ("/api/calls?page=" + BIG, "page"),
    ("/api/calls?page=-1", "page"),
    ("/api/calls?page=0", "page"),
    ("/api/calls?page=1e3", "page"),
    ("/api/calls?page=%D9%A1", "page"),  # an Arabic-Indic digit one
    ("/api/calls?per_page=" + "9" * 20, "per_page"),
    ("/api/calls?per_page=-5", "per_page"),
    ("/api/calls?from=0001-01-01", "from"),
    ("/api/calls?to=9999-12-31", "to"),
    ("/api/calls?from=2026-02-30", "from"),
    ("/api/calls?from=2026-12-01&to=2026-11-01", "from"),
    ("/api/calls?number=138%00", "number"),
    ("/api/calls?number=" + "1" * 33, "number"),
    ("/api/calls?agent=chen%E2%80%AE", "agent"),  # RIGHT-TO-LEFT OVERRIDE
    ("/api/calls?agent=" + "a" * 5000, "agent"),
    ("/api/calls?branch=%00", "branch"),
    ("/api/calls?branch=enquiries%E2%80%8F", "branch"),  # RIGHT-TO-LEFT MARK
    ("/api/calls?outcome=%ED%A0%80", "outcome"),  # an encoded lone surrogate
    ("/api/calls/%00", "uid"),
    ("/api/calls/" + "x" * 300, "uid"),
    ("/api/reports?from=0001-01-01", "from"),
    ("/api/reports?to=9999-12-31", "to"),
    ("/api/reports?period=decade", "period"),
    ("/api/reports?from=2025-01-01&to=2026-11-23", "from"),  # > 400 days
    ("/api/planner?date=9999-12-31", "date"),
    ("/api/planner?date=0001-01-01", "date"),
    ("/api/callbacks?limit=" + BIG, "limit"),
    ("/api/callbacks/rate?days=-1", "days"),
    ("/api/away-requests?status=%00", "status"),
]


PAGE_CASES = [
    ("/calls?page=" + BIG, "page"),
    ("/calls?to=9999-12-31", "to"),
    ("/calls?agent=%00", "agent"),
    ("/calls/export.csv?from=0001-01-01", "from"),
    ("/calls/export.csv?number=%E2%80%AE1", "number"),
    ("/calls/%00", "uid"),
    ("/reports?to=9999-12-31", "to"),
    ("/planner?date=0001-01-01", "date"),
    ("/callbacks?limit=-3", "limit"),
    ("/board/stream?once=2", "once"),
]


def test_out_of_range_is_a_400_naming_the_parameter(client, web_users, login) -> None:
    login(client, "root")
    for url, param in API_CASES:
        r = client.get(url)
        assert r.status_code == 400, (url, r.status_code)
        body = r.get_json()
        assert body["param"] == param, (url, body)
        assert body["error"].startswith(param + ":"), (url, body)
        assert "Traceback" not in r.get_data(as_text=True)
    for url, param in PAGE_CASES:  # pages answer with the error page
        r = client.get(url)
        assert r.status_code == 400, url
        html = r.get_data(as_text=True)
        assert f"{param}:" in html and "Traceback" not in html, url


# Another way to write a number is not that number: a path id refuses /x/+1, and an
# integer in the query string was taken with a sign, spaces round it or as "-0".
OTHER_SPELLINGS = ["+2", "-0", "+0", " 2", "2 ", "\t2", "2\n", "\u30002", "２", "1e3", "0x10"]
OTHER_SPELLINGS += ["1_0", "0b1", "2.0", "٢", " ", ""]


def test_an_integer_parameter_takes_ascii_digits_only_like_a_path_id(
    client, web_users, login
) -> None:
    login(client, "root")
    for name, url in (
        ("page", "/api/calls"),
        ("per_page", "/api/calls"),
        ("limit", "/api/callbacks"),
        ("days", "/api/callbacks/rate"),
        ("page", "/calls"),
    ):
        for value in OTHER_SPELLINGS:
            r = client.get(f"{url}?{name}={quote(value, safe='')}")
            if value == "":  # empty: absent, the default
                assert r.status_code == 200, (url, name)
                continue
            assert r.status_code == 400, (url, name, value)
            if url.startswith("/api/"):
                assert r.get_json()["param"] == name, (url, value)
            else:
                assert f"{name}:" in r.get_data(as_text=True), (url, value)
        assert client.get(f"{url}?{name}=2").status_code == 200
        assert client.get(f"{url}?{name}=002").status_code == 200  # digits, as a path id


def test_int_param_unit_refuses_other_spellings() -> None:
    for value in OTHER_SPELLINGS[:-1]:  # all but the empty one
        with pytest.raises(params.ParamError) as e:
            params.int_param("n", 0, 100, 7, {"n": value})
        assert e.value.param == "n", repr(value)
    assert params.int_param("n", 0, 100, 7, {"n": "0"}) == 0
    assert params.int_param("n", 0, 100, 7, {"n": "42"}) == 42
    assert params.int_param("n", 0, 100, 7, {"n": 42}) == 42  # a JSON number
    assert params.int_param("n", 0, 100, 7, {"n": ""}) == 7


def test_post_fields_and_path_ids_are_checked(client, web_users, login) -> None:
    login(client, "lead")
    token = client.get("/api/me").get_json()["csrf_token"]
    h = {"X-CSRF-Token": token}
    for rid in (BIG, "-1", "0", "1" * 40, "x"):
        r = client.post(f"/api/away-requests/{rid}", json={"decision": "approve"}, headers=h)
        assert (r.status_code, r.get_json()["param"]) == (400, "request_id"), rid
        r = client.post(f"/board/requests/{rid}", data={"decision": "approve", "csrf_token": token})
        assert r.status_code == 400 and "request_id:" in r.get_data(as_text=True), rid
    for decision in ("", "maybe", None, 1, ["approve"]):
        r = client.post("/api/away-requests/1", json={"decision": decision}, headers=h)
        assert (r.status_code, r.get_json()["param"]) == (400, "decision"), decision
    r = client.post("/api/away-requests/2147483647", json={"decision": "refuse"}, headers=h)
    assert r.status_code == 404  # in range, but no such request
    login(client, "chen")
    token = client.get("/api/me").get_json()["csrf_token"]
    h = {"X-CSRF-Token": token}
    for body, param in (
        ({"kind": "\ud800"}, "kind"),
        ({"kind": 5}, "kind"),
        ({}, "kind"),
    ):
        r = client.post("/api/agent/attendance", json=body, headers=h)
        assert (r.status_code, r.get_json()["param"]) == (400, param), body
    for body, param in (
        ({"state": "away", "reason": "nap\x00"}, "reason"),
        ({"state": ["away"]}, "state"),
        ({"state": "x" * 10_000}, "state"),
    ):
        r = client.post("/api/agent/status", json=body, headers=h)
        assert (r.status_code, r.get_json()["param"]) == (400, param), body
    r = client.post("/agent/attendance", data={"kind": "sign_in\x00", "csrf_token": token})
    assert r.status_code == 400 and "kind:" in r.get_data(as_text=True)


def test_going_away_without_a_reason_is_a_400_naming_reason(client, web_users, login) -> None:
    """{"state": "away"} alone answered 400 "Unknown away reason ''." with no param (the
    presence error's code, not the field); now "reason: is required" naming it, on the
    API and the agent page alike, and the agent stays as they were."""
    login(client, "chen")
    h = {"X-CSRF-Token": client.get("/api/me").get_json()["csrf_token"]}
    assert client.post("/api/agent/attendance", json={"kind": "sign_in"}, headers=h).status_code
    for body in (
        {"state": "away"},
        {"state": "away", "reason": ""},
        {"state": "away", "reason": " "},
    ):
        r = client.post("/api/agent/status", json=body, headers=h)
        assert (r.status_code, r.get_json().get("param")) == (400, "reason"), r.get_json()
        assert "break" in r.get_json()["error"]  # the reasons it takes
    r = client.post("/agent/status", data={"state": "away", "csrf_token": h["X-CSRF-Token"]})
    assert r.status_code == 400 and "reason:" in r.get_data(as_text=True)
    assert client.get("/api/agent/status").get_json()["state"] == "available"
    r = client.post("/api/agent/status", json={"state": "wrap_up"}, headers=h)
    assert r.status_code == 200  # no reason needed to stay at work


def test_any_remaining_value_error_is_a_400_not_a_500(app, web_users, login) -> None:
    def boom() -> str:
        raise OverflowError("date value out of range")

    def boom_value() -> str:
        raise ValueError("invalid literal for int() with base 10: 'x'")

    app.add_url_rule("/api/test-overflow", "test_overflow", boom)
    app.add_url_rule("/test-value", "test_value", boom_value)
    client = app.test_client()
    r = client.get("/api/test-overflow")
    assert r.status_code == 400 and r.get_json()["param"] is None
    r = client.get("/test-value")
    assert r.status_code == 400 and "Traceback" not in r.get_data(as_text=True)


def test_csrf_token_with_non_ascii_characters_is_refused_not_a_500(client, web_users, login):
    login(client, "chen")
    r = client.post(
        "/api/agent/attendance", json={"kind": "sign_in"}, headers={"X-CSRF-Token": "é" * 43}
    )
    assert r.status_code == 400


# --- property-based: the list, report and export endpoints never answer 500 ----------

INTS = st.sampled_from(
    ["0", "1", "-1", "2", "200", "201", str(2**31), str(2**63 - 1), BIG, "9" * 25, "1e9", " 3 "]
)
DATES = st.sampled_from(
    ["0001-01-01", "9999-12-31", "1969-12-31", "1970-01-01", "2999-12-31", "3000-01-01"]
    + ["2026-11-23", "2026-02-29", "2024-02-29", "20261123", "2026-W48-1", "", "yesterday"]
) | st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(date.isoformat)
TEXTS = st.text(max_size=40) | st.sampled_from(
    ["\x00", "\u202e", "\u200f", "\ufeff", "\U0010ffff", "a" * 3000, "١٣٨", "１３８", "%00"]
)
VALUE = INTS | DATES | TEXTS
QUERY = st.dictionaries(
    st.sampled_from(
        ["page", "per_page", "from", "to", "number", "agent", "branch", "outcome", "period"]
        + ["limit", "days", "status", "date", "unknown"]
    ),
    VALUE,
    max_size=5,
)
ENDPOINTS = (
    "/api/calls",
    "/calls",
    "/calls/export.csv",
    "/api/reports",
    "/reports",
    "/api/planner",
    "/api/callbacks",
    "/api/callbacks/rate",
    "/api/away-requests",
)


def _query(q: dict[str, str]) -> str:
    return "&".join(
        f"{quote(k)}={quote(v.encode('utf-8', 'surrogatepass'), safe='')}" for k, v in q.items()
    )


@pytest.fixture
def root_client(app, web_users, login, calls, t0):
    calls.call(t0, wait=5, talk=60, agent="chen", seat="seat2")
    client = app.test_client()
    login(client, "root")
    return client


@HOSTILE_SETTINGS
@given(endpoint=st.sampled_from(ENDPOINTS), query=QUERY)
@example(endpoint="/api/calls", query={"to": "9999-12-31"})
@example(endpoint="/calls/export.csv", query={"from": "0001-01-01", "to": "9999-12-31"})
@example(endpoint="/api/reports", query={"from": "9999-12-01", "to": "9999-12-31"})
@example(endpoint="/api/calls", query={"page": BIG, "per_page": "200"})
@example(endpoint="/api/calls", query={"number": "\x00", "agent": "\u202e"})
def test_list_report_export_never_answer_500(root_client, endpoint, query) -> None:
    r = root_client.get(f"{endpoint}?{_query(query)}")
    body = r.get_data(as_text=True)  # an export streams: read it to the end
    assert r.status_code in (200, 400), (r.status_code, body[:300])
    assert "Traceback" not in body
    if r.status_code == 400 and endpoint.startswith("/api/"):
        assert r.get_json()["param"] in query, r.get_json()


def test_params_unit() -> None:
    src = {"n": "42", "big": BIG, "d": "2026-11-23", "c": "b", "t": "ok", "u": "\u202e"}
    assert params.int_param("n", 1, 100, 7, src) == 42
    assert params.int_param("absent", 1, 100, 7, src) == 7
    with pytest.raises(params.ParamError) as e:
        params.int_param("big", 1, 100, 7, src)
    assert e.value.param == "big"
    assert params.date_param("d", source=src) == date(2026, 11, 23)
    assert params.choice_param("c", ("a", "b"), "a", src) == "b"
    assert params.text_param("t", 5, source=src) == "ok"
    with pytest.raises(params.ParamError):
        params.text_param("u", 5, source=src)
    assert params.printable("a\x00b\u202ec", 10) == "a?b?c"


# --- found by fuzzing every route (JSON bodies, redirects, messages, streams) ---------

JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    "raw",
    [
        "[" * 30_000,  # json's C scanner runs out of stack: a RecursionError, was a 500
        '{"k":' * 10_000,
        "[]",
        '["sign_in"]',
        "1",
        '"sign_in"',
        "null",
        '{"kind": "sign_in"',
        b"\xff\xfe{}",
    ],
)
def test_a_json_body_that_is_no_object_is_a_400_naming_body(
    client, web_users, login, raw: str | bytes
) -> None:
    login(client, "chen")
    h = {**JSON, "X-CSRF-Token": client.get("/api/me").get_json()["csrf_token"]}
    for path in (
        "/api/agent/attendance",
        "/api/agent/status",
        "/api/cases",
        "/api/cases/202611-0001",
    ):
        r = client.post(path, data=raw, headers=h)
        assert r.status_code == 400, (path, r.status_code)
        assert r.get_json()["param"] == "body", (path, r.get_json())
    r = client.post("/api/agent/attendance", data="[]", headers={**h, "Accept-Language": "zh-CN"})
    assert r.get_json()["error"] == "body: 必须是 JSON 对象"
    # a form post is still read as a form
    r = client.post(
        "/api/agent/attendance",
        data={"kind": "sign_in"},
        headers={"X-CSRF-Token": h["X-CSRF-Token"]},
    )
    assert r.status_code == 200 and r.get_json()["outcome"] == "signed_in"


# A parameter given twice was taken as its first value: ?page=1&page=2 showed page 1.
TWICE_API = [
    ("/api/calls?page=1&page=2", "page"),
    ("/api/calls?page=2&page=2", "page"),  # the same value twice: still not one value
    ("/api/calls?page=1&page=", "page"),
    ("/api/calls?per_page=5&per_page=50", "per_page"),
    ("/api/calls?from=2026-11-01&from=2026-11-20", "from"),
    ("/api/calls?agent=chen&agent=li", "agent"),
    ("/api/calls?outcome=answered&outcome=abandoned_in_menu", "outcome"),
    ("/api/reports?period=day&period=week", "period"),
    ("/api/planner?date=2026-11-23&date=2026-11-24", "date"),
    ("/api/callbacks?limit=1&limit=2", "limit"),
    ("/api/callbacks/rate?days=1&days=7", "days"),
    ("/api/away-requests?status=pending&status=all", "status"),
    ("/api/cases?state=open&state=all", "state"),
    ("/api/cases?q=a&q=b", "q"),
]
TWICE_PAGES = [
    ("/calls?page=1&page=2", "page"),
    ("/calls/export.csv?agent=chen&agent=li", "agent"),
    ("/reports?from=2026-11-01&from=2026-11-02", "from"),
    ("/planner?date=2026-11-23&date=2026-11-24", "date"),
    ("/callbacks?limit=1&limit=2", "limit"),
    ("/cases?view=all&view=overdue", "view"),
    ("/cases/review.csv?week=2026-W47&week=2026-W46", "week"),
    ("/board/stream?once=1&once=1", "once"),
    ("/login?next=/calls&next=/board", "next"),
]


def test_a_parameter_given_twice_is_a_400_naming_it(client, web_users, login, web_runtime):
    login(client, "root")
    for url, param in TWICE_API:
        r = client.get(url)
        assert r.status_code == 400, (url, r.status_code)
        assert r.get_json()["param"] == param, (url, r.get_json())
    for url, param in TWICE_PAGES:
        r = client.get(url)
        assert r.status_code == 400, (url, r.status_code)
        assert f"{param}:" in r.get_data(as_text=True), url
    assert client.get("/api/calls?page=1&per_page=5").status_code == 200
    # a form field or a JSON key given twice: refused, nothing changed
    login(client, "chen")
    token = client.get("/api/me").get_json()["csrf_token"]
    h = {"X-CSRF-Token": token}
    twice = MultiDict([("kind", "sign_in"), ("kind", "sign_out"), ("csrf_token", token)])
    r = client.post("/agent/attendance", data=twice)
    assert r.status_code == 400 and "kind:" in r.get_data(as_text=True)
    r = client.post("/api/agent/attendance", data=twice, headers=h)
    assert (r.status_code, r.get_json()["param"]) == (400, "kind")
    raw = '{"kind": "sign_in", "kind": "sign_out"}'
    r = client.post("/api/agent/attendance", data=raw, headers={**h, **JSON})
    assert (r.status_code, r.get_json()["param"]) == (400, "kind")
    assert "chen" not in web_runtime.presence_repo.agent_states()
    r = client.post("/language", data=MultiDict([("locale", "en"), ("locale", "zh-CN"),
                                                 ("csrf_token", token)]))  # fmt: skip
    assert r.status_code == 400 and "locale:" in r.get_data(as_text=True)
    r = client.post("/api/agent/attendance", data='{"kind": "sign_in"}', headers={**h, **JSON})
    assert r.status_code == 200


def test_reversed_dates_and_another_agents_calls_are_refused_in_the_users_language(
    client, web_users, login
) -> None:
    login(client, "chen")
    zh = {"Accept-Language": "zh-CN"}
    r = client.get("/api/calls?from=2026-12-01&to=2026-11-01", headers=zh)
    assert r.status_code == 400 and r.get_json() == {
        "error": "from: 开始日期 2026-12-01 晚于结束日期 2026-11-01",
        "param": "from",
    }
    r = client.get("/calls?from=2026-12-01&to=2026-11-01", headers=zh)
    assert r.status_code == 400 and "晚于结束日期" in r.get_data(as_text=True)
    r = client.get("/api/calls?agent=li", headers=zh)
    assert r.status_code == 403 and r.get_json()["error"] == "坐席 chen 无权查看坐席 li 的通话"
    r = client.get("/calls?agent=li", headers=zh)
    assert r.status_code == 403 and "无权查看坐席 li 的通话" in r.get_data(as_text=True)


def test_a_malformed_user_name_is_named_in_the_users_language(client, web_users, csrf) -> None:
    token = csrf(client.get("/login").get_data(as_text=True))
    r = client.post(
        "/login",
        data={"username": "chen wei", "password": PASSWORD, "csrf_token": token},
        headers={"Accept-Language": "zh-CN"},
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and "username:" in html
    assert "a user name holds only" not in html  # the CLI's English
    assert "用户名" in html and "chen wei" in html


def test_a_blank_or_wrongly_typed_summary_never_wipes_the_case_text(
    client, web_users, login
) -> None:
    login(client, "boss")
    h = {"X-CSRF-Token": client.get("/api/me").get_json()["csrf_token"]}
    body = {"number": "13800000001", "matter": "heater", "class": "important", "summary": "kept"}
    no = client.post("/api/cases", json=body, headers=h).get_json()["case_no"]
    for blank in ("", "   ", "\u3000"):  # the summary stays: alone, nothing to change
        r = client.post(f"/api/cases/{no}", json={"summary": blank}, headers=h)
        assert (r.status_code, r.get_json()["param"]) == (400, "body"), repr(blank)
        r = client.post(f"/api/cases/{no}", json={"summary": blank, "note": "n"}, headers=h)
        assert r.status_code == 200 and r.get_json()["summary"] == "kept", repr(blank)
    for wrong in (0, False, [], {}, ["x"]):
        r = client.post(f"/api/cases/{no}", json={"summary": wrong}, headers=h)
        assert (r.status_code, r.get_json().get("param")) == (400, "summary"), wrong
    assert client.get(f"/api/cases/{no}").get_json()["summary"] == "kept"
    r = client.post(f"/api/cases/{no}", json={"summary": "new text"}, headers=h)
    assert r.get_json()["summary"] == "new text"


def test_head_on_the_export_gives_its_heavy_slot_back(web_runtime, web_users, login) -> None:
    """A HEAD closes the streamed export without starting it: its slot was never freed,
    and after `heavy_slots` of them every list, report and export answered 503."""
    from web.app import close_app, create_app

    app = create_app(
        web_runtime, secret_key="k", board_poll_seconds=0.0, heavy_slots=1, heavy_wait_seconds=0.0
    )
    try:
        client = app.test_client()
        login(client, "chen")
        for _ in range(3):
            r = client.head("/calls/export.csv")
            assert r.status_code == 200
            r.close()
        assert client.get("/api/calls").status_code == 200
        assert client.get("/calls/export.csv").status_code == 200
        assert client.get("/api/calls").status_code == 200
    finally:
        close_app(app)


FORM = "application/x-www-form-urlencoded"


def test_a_field_that_is_not_utf8_is_a_400_naming_it(client, web_users, login) -> None:
    """werkzeug keeps bytes that are not UTF-8 percent-encoded as text: a note typed 中文
    on a form sent in GBK was stored as the note "%D6%D0%CE%C4", a search ran for it; and
    raw in a form body, it dropped the whole form ("class: is required"). Now a 400
    naming the field, nothing stored; UTF-8 中文 as before."""
    login(client, "boss")
    h = {"X-CSRF-Token": client.get("/api/me").get_json()["csrf_token"]}
    body = {"number": "13800000001", "matter": "heater", "class": "minor"}
    no = client.post("/api/cases", json=body, headers=h).get_json()["case_no"]
    events = client.get(f"/api/cases/{no}").get_json()["events"]
    for data, param in (
        ("note=%D6%D0%CE%C4", "note"),  # 中文 in GBK
        ("note=ok&summary=%ED%A0%80", "summary"),  # a lone surrogate's bytes
        ("note=ok&x%FF=1", "x\ufffd"),  # the name itself
        (b"note=\xd6\xd0\xce\xc4", "note"),  # raw, not percent-encoded
    ):
        r = client.post(f"/api/cases/{no}", data=data, content_type=FORM, headers=h)
        assert (r.status_code, r.get_json()["param"]) == (400, param), (data, r.get_json())
    raw = b"class=minor&matter=\xd6\xd0&number=13800000001"
    r = client.post("/api/cases", data=raw, content_type=FORM, headers=h)
    assert (r.status_code, r.get_json()["param"]) == (400, "matter"), r.get_json()
    for url, param in (
        ("/api/cases?q=%D6%D0", "q"),
        ("/api/calls?agent=%ED%A0%80", "agent"),
        ("/api/calls?number=138&page=%FF", "page"),
    ):
        r = client.get(url)
        assert (r.status_code, r.get_json()["param"]) == (400, param), url
    r = client.get("/api/cases", environ_overrides={"QUERY_STRING": "q=\xd6\xd0"})  # raw
    assert (r.status_code, r.get_json()["param"]) == (400, "q")
    r = client.get("/cases?q=%D6%D0")
    assert r.status_code == 400 and "q:" in r.get_data(as_text=True)
    token = h["X-CSRF-Token"]
    r = client.post(f"/cases/{no}", data=f"note=%D6%D0&csrf_token={token}", content_type=FORM)
    assert r.status_code == 400 and "note:" in r.get_data(as_text=True)
    assert client.get(f"/api/cases/{no}").get_json()["events"] == events
    r = client.post(
        f"/api/cases/{no}", data="note=%E4%B8%AD%E6%96%87", content_type=FORM, headers=h
    )
    assert r.status_code == 200
    assert client.get(f"/api/cases/{no}").get_json()["events"][-1]["detail"] == "中文"
