"""Every route of the web app, from its own route table, under hostile input (both stores).

Generic over `app.url_map.iter_rules()`: each rule and each of its methods (HEAD and
OPTIONS aside), so a new route is fuzzed without a line here. The fuzzer signs in as an
admin (the most powerful role) and again as an agent (the agent's own pages, and the 403
of every staff page), sends a valid CSRF token with every unsafe request, and for each
route sends, one hostile item at a time:

- each path parameter, converter-aware (huge, negative and zero ints, NUL and %00,
  Arabic-Indic and fullwidth digits, '..', 3 kB of text, a lone surrogate and invalid
  UTF-8, percent-encoded), the others kept valid (a real case, callback, user, call);
- each field the route reads, in the query string (GET), the form (POST) or a JSON body
  (POST under /api/): the names are those its view (and the web functions the view
  calls) pass to a parser of web/params.py or read from request.args/form, those
  /api/openapi.json lists for it (parameters and body properties), and an unknown one;
  the values: '', ' ', NUL, CR/LF, RTL override, 100 kB, '-1', '0', 2**63, 'nan', 'inf',
  '1e309', fullwidth digits, 0001-01-01, 9999-12-31, 2026-02-30, a lone surrogate, and in
  JSON also a list, an object, null, true, 2**63, 1e309, NaN and nesting 1000 deep; and
  whole JSON bodies that are no object. A route that refuses the user outright (403)
  gets the path values and the unknown field only: it reads nothing else.
- then, drawn by hypothesis, up to four of a route's fields at once.

Each answer: never 5xx, no "Traceback", a 400 under /api/ is JSON whose "param" names a
field that was sent (or "body"), each within a few seconds; and a refused POST (4xx)
changes nothing in the store (users, sessions, presence, cases, callbacks, visitors).

Skipped, and why:

- the `twilio` blueprint (/twilio/*): without Twilio's signature every request is a 403
  before a field is read; tests/web/test_twilio_hostile.py fuzzes them signed.
- `once` of /board/stream and /agent/stream: these server-sent-event streams never end
  unless `once=1`, so they are fuzzed with `once=1` pinned (test_hostile_web.py sends a
  bad `once`).
- /logout is sent last for each user (it ends the session the fuzzer runs in).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from werkzeug.routing import Rule

from ivr.bootstrap import Runtime, case_parts

SKIP_BLUEPRINTS = {"twilio": "signed webhooks: tests/web/test_twilio_hostile.py"}
PINNED = {"board.stream": {"once": "1"}, "agent.stream": {"once": "1"}}  # else endless
LAST = {"auth.logout"}  # ends the fuzzer's own session
UNKNOWN = "zz_unknown"
JSON = "application/json"
SLOW = 5.0  # seconds: more than the heavy pool's wait (2 s), far less than its timeout

# --- the values ------------------------------------------------------------------------

BIG = str(2**63)
TEXTS: list[str] = [
    "",
    " ",
    "\x00",
    "a\r\nb",
    "\u202eabc",
    "x" * 100_000,
    "-1",
    "0",
    BIG,
    "nan",
    "inf",
    "1e309",
    "\uff11\uff12",  # fullwidth 12
    "0001-01-01",
    "9999-12-31",
    "2026-02-30",
    "\ud800",  # a lone surrogate: %ED%A0%80 in a query or form
]
# raw JSON tokens for a field's value (the strings above, JSON-quoted, come too)
JSON_TOKENS: list[str] = [
    "[]",
    '["a"]',
    "{}",
    '{"a": 1}',
    "null",
    "true",
    "false",
    BIG,
    "-1",
    "1.5",
    "1e309",
    "NaN",
    "-Infinity",
    "[" * 1000 + "]" * 1000,
]
# whole bodies that are no JSON object
JSON_BODIES: list[str] = ["[]", "null", "true", '"x"', "1e309", "[" * 1000 + "]" * 1000, "{"]
PATH_TEXT: list[str] = [
    BIG,
    "9" * 40,
    "-1",
    "0",
    "%00",
    "a%00b",
    quote("\u0661\u0662"),  # Arabic-Indic 12
    quote("\uff11\uff12"),  # fullwidth 12
    "..",
    "%2e%2e",
    "x" * 3000,
    "%ED%A0%80",  # a lone surrogate
    "%FF%FE",  # not UTF-8
    "%20",
    quote("\u202e1"),
]
PATH_INT: list[str] = [BIG, "2147483648", "-1", "0", "%00", quote("\u0661"), quote("\uff11")]
PATH_PATH: list[str] = [*PATH_TEXT, "../../etc/passwd", "..%2f..%2fetc%2fpasswd", "a/%00/b"]


def enc(value: str) -> str:
    """Percent-encoded as a browser would, a lone surrogate as its UTF-8 bytes."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


class Raw(str):
    """A JSON token sent as it is (a list, null, NaN...), not as a JSON string."""


# --- the routes and the names each reads --------------------------------------------------

_NAME_RE = re.compile(
    r"""(?:(?:int|id|date|choice|text|username|secret)_param|\bone)\(\s*["']([^"']+)["']"""
    r"""|(?:args|form|source|src|body|data)\.get\(\s*["']([^"']+)["']"""
    r"""|ParamError\(\s*["']([^"']+)["']"""
)


def _web_functions(fn: Callable[..., Any], depth: int = 3) -> Iterator[Callable[..., Any]]:
    """`fn` (unwrapped) and the functions of web.* it names, `depth` calls deep."""
    seen: set[Any] = set()
    todo = [(inspect.unwrap(fn), 0)]
    while todo:
        f, d = todo.pop()
        if f in seen or not isinstance(f, types.FunctionType):
            continue
        seen.add(f)
        yield f
        if d >= depth:
            continue
        names = f.__code__.co_names
        for name in names:
            obj = f.__globals__.get(name)
            if isinstance(obj, types.ModuleType) and obj.__name__.startswith("web."):
                for attr in names:
                    sub = getattr(obj, attr, None)
                    if getattr(sub, "__module__", "").startswith("web."):
                        todo.append((sub, d + 1))
            elif getattr(obj, "__module__", "").startswith("web."):
                todo.append((obj, d + 1))


def source_names(fn: Callable[..., Any]) -> set[str]:
    found: set[str] = set()
    for f in _web_functions(fn):
        try:
            src = inspect.getsource(f)
        except (OSError, TypeError):
            continue
        found |= {next(g for g in m.groups() if g) for m in _NAME_RE.finditer(src)}
    return found - {"csrf_token"}


def openapi_names(doc: dict[str, Any], rule: Rule, method: str) -> set[str]:
    path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
    op = doc.get("paths", {}).get(path, {}).get(method.lower(), {})
    names = {p["name"] for p in op.get("parameters", []) if p.get("in") in ("query", None)}
    for media in op.get("requestBody", {}).get("content", {}).values():
        names |= set(media.get("schema", {}).get("properties", {}))
    return names


@dataclass
class Route:
    rule: Rule
    method: str
    names: list[str]  # fields it reads (sorted), the unknown one last

    @property
    def id(self) -> str:
        return f"{self.method} {self.rule.rule}"


def routes(app: Flask, doc: dict[str, Any]) -> list[Route]:
    found = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint.split(".")[0] in SKIP_BLUEPRINTS:
            continue
        view = app.view_functions[rule.endpoint]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            names = source_names(view) | openapi_names(doc, rule, method)
            names -= set(rule.arguments) | set(PINNED.get(rule.endpoint, {}))
            found.append(Route(rule, method, [*sorted(names), UNKNOWN]))
    found.sort(key=lambda r: r.rule.endpoint in LAST)
    return found


# --- the store: a refused POST changes nothing ------------------------------------------

STORE_TABLES = (
    "users",
    "web_sessions",
    "attendance_events",
    "agent_state_history",
    "away_requests",
    "agent_states",
    "cases",
    "case_events",
    "case_calls",
    "case_serials",
    "callback_requests",
    "callback_events",
    "callback_attempts",
    "visitor_files",
)


def store_digest(rt: Runtime) -> str:
    h = hashlib.sha256()
    with rt.sessions() as s:
        for table in STORE_TABLES:
            rows = s.execute(text(f"SELECT * FROM {table}")).all()  # noqa: S608 (our names)
            h.update(repr(sorted(map(repr, rows))).encode())
    return h.hexdigest()


# --- the fuzzer -------------------------------------------------------------------------


@dataclass
class Fuzzer:
    client: FlaskClient
    rt: Runtime
    valid: dict[str, str]  # a path parameter's name -> a value naming a real row
    token: str = ""
    digest: str | None = None  # the store's, after the last unsafe request
    sent: int = 0
    problems: list[str] = field(default_factory=list)

    def url(self, route: Route, path: dict[str, str], query: str = "") -> str:
        url = route.rule.rule
        for name in route.rule.arguments:
            value = path.get(name, self.valid.get(name, "1"))
            url = re.sub(rf"<(?:[^:<>]+:)?{name}>", lambda _m, v=value: v, url)
        pinned = "&".join(f"{k}={v}" for k, v in PINNED.get(route.rule.endpoint, {}).items())
        q = "&".join(x for x in (pinned, query) if x)
        return f"{url}?{q}" if q else url

    def send(
        self,
        route: Route,
        what: str,
        names: set[str],
        *,
        path: dict[str, str] | None = None,
        query: str = "",
        form: str | None = None,
        json_body: str | None = None,
    ) -> int:
        url = self.url(route, path or {}, query)
        unsafe = route.method != "GET"
        headers = {"X-CSRF-Token": self.token} if unsafe else {}
        kwargs: dict[str, Any] = {"headers": headers}
        if form is not None:
            kwargs.update(data=form, content_type="application/x-www-form-urlencoded")
        elif json_body is not None:
            kwargs.update(data=json_body.encode("utf-8", "surrogatepass"), content_type=JSON)
        elif unsafe:
            kwargs.update(data="", content_type="application/x-www-form-urlencoded")
        if unsafe and self.digest is None:  # the last request changed the store
            self.digest = store_digest(self.rt)
        started = time.monotonic()
        where = f"{route.id} {what}: {url[:120]!r}"
        try:
            r = self.client.open(url, method=route.method, **kwargs)
        except Exception as e:  # noqa: BLE001 (TESTING propagates what would be a 500)
            self.problems.append(f"{where}: raised {type(e).__name__}: {e}"[:300])
            self.digest = None
            return 500
        body = r.get_data(as_text=True)  # streams (exports) read to the end
        r.close()
        took = time.monotonic() - started
        self.sent += 1
        if r.status_code >= 500:
            self.problems.append(f"{where}: {r.status_code} {body[:200]!r}")
        elif "Traceback" in body:
            self.problems.append(f"{where}: a traceback")
        elif took > SLOW:
            self.problems.append(f"{where}: {took:.1f} s")
        elif r.status_code == 400 and route.rule.rule.startswith("/api/"):
            got = (r.get_json(silent=True) or {}).get("param")
            required = set(route.names) - names  # "is required": a field not sent
            if got not in names | required | {"body"}:
                self.problems.append(f"{where}: 400 names {got!r}, not one of {sorted(names)}")
        if unsafe:
            before, self.digest = self.digest, store_digest(self.rt)
            if r.status_code >= 400 and self.digest != before:
                self.problems.append(f"{where}: refused ({r.status_code}) but the store changed")
        return r.status_code

    def fuzz(self, route: Route) -> None:
        for name, conv in route.rule._converters.items():
            kind = type(conv).__name__
            values = {"IntegerConverter": PATH_INT, "PathConverter": PATH_PATH}.get(kind, PATH_TEXT)
            for value in values:
                self.send(route, f"path {name}={value[:20]!r}", {name}, path={name: value})
        api_post = route.method == "POST" and route.rule.rule.startswith("/api/")
        names = route.names
        if self.field(route, api_post, UNKNOWN, "") == 403:
            names = [UNKNOWN]  # refused before a field is read: the path values suffice
        for name in names:
            for value in TEXTS:
                self.field(route, api_post, name, value)
            for token in JSON_TOKENS if api_post else ():
                self.field(route, api_post, name, Raw(token))
        if route.method != "GET":
            for body in JSON_BODIES:
                self.send(route, f"json body {body[:20]}", set(), json_body=body)

    def field(self, route: Route, api_post: bool, name: str, value: str) -> int:
        return self.fields(route, api_post, {name: value})

    def fields(self, route: Route, api_post: bool, values: dict[str, str]) -> int:
        """The fields in the query (GET), a JSON body (POST under /api/), or the form; under
        /api/ a value that is a `Raw` JSON token goes into the body as it is."""
        what = ", ".join(f"{k}={v[:20]!r}" for k, v in values.items())
        if api_post:
            items = (
                f"{json.dumps(k)}: {v if isinstance(v, Raw) else json.dumps(v)}"
                for k, v in values.items()
            )
            body = "{" + ", ".join(items) + "}"
            return self.send(route, f"json {what}", set(values), json_body=body)
        pairs = "&".join(f"{enc(k)}={enc(v)}" for k, v in values.items())
        if route.method == "GET":
            return self.send(route, what, set(values), query=pairs)
        return self.send(route, what, set(values), form=pairs)


# --- the fixtures ------------------------------------------------------------------------


def make_world(rt: Runtime, calls: Any, t0: Any) -> dict[str, str]:
    """Real rows for the path parameters: a call, a case with a callback, a user (li);
    also used by tests/web/test_request_fuzz.py, on two stores built alike."""
    uid = calls.call(t0, wait=5, talk=60, agent="chen", seat="seat2")
    opened = case_parts(rt).service.open(
        "+8613800000034", "no hot water", "minor", by="chen", owner="chen"
    )
    with rt.sessions() as s:
        li = s.execute(text("SELECT id FROM users WHERE username = 'li'")).scalar_one()
    return {
        "uid": uid,
        "case_no": opened.case.case_no,
        "callback_id": str(opened.callbacks[0].id),
        "user_id": str(li),  # not the fuzzer's own account: a password change ends sessions
        "request_id": "1",
        "filename": "app.css",
    }


@pytest.fixture
def world(app: Flask, web_users: dict[str, str], web_runtime: Runtime, calls, t0) -> dict[str, str]:
    return make_world(web_runtime, calls, t0)


@pytest.fixture
def signed_in(
    app: Flask, web_runtime: Runtime, world: dict[str, str], login: Any, user: str
) -> tuple[Fuzzer, list[Route]]:
    """A fuzzer signed in as `user`, and the routes of the app."""
    client = app.test_client()
    login(client, user)
    fz = Fuzzer(client, web_runtime, world)
    fz.token = client.get("/api/me").get_json()["csrf_token"]
    return fz, routes(app, client.get("/api/openapi.json").get_json())


def _run(fz: Fuzzer, all_routes: list[Route], login: Any, user: str) -> None:
    for route in all_routes:
        fz.fuzz(route)
        if route.rule.endpoint in LAST:  # signed out: sign in again for what follows
            login(fz.client, user)
            fz.token = fz.client.get("/api/me").get_json()["csrf_token"]


def test_the_route_table_is_discovered(app: Flask) -> None:
    doc = app.test_client().get("/api/openapi.json").get_json()
    found = {r.id: r for r in routes(app, doc)}
    assert "POST /api/cases" in found and "GET /calls" in found
    assert {"matter", "class", "number", "contract_start"} <= set(found["POST /api/cases"].names)
    assert {"page", "per_page", "from", "to", "agent"} <= set(found["GET /api/calls"].names)
    assert {"week"} <= set(found["GET /cases/review.csv"].names)
    assert {"locale", "next"} <= set(found["POST /language"].names)
    assert not any(r.rule.rule.startswith("/twilio/") for r in found.values())


@pytest.mark.parametrize("user", ["root", "chen"])
def test_no_route_answers_500_to_hostile_input(
    signed_in: tuple[Fuzzer, list[Route]], login: Any, user: str
) -> None:
    fz, all_routes = signed_in
    _run(fz, all_routes, login, user)
    assert fz.sent > 1000
    assert not fz.problems, "\n".join(fz.problems[:40])


# --- combinations, drawn by hypothesis ------------------------------------------------------

JSON_VALUE = st.sampled_from(JSON_TOKENS).map(Raw) | st.sampled_from(TEXTS) | st.text(max_size=12)
TEXT_VALUE = st.sampled_from(TEXTS) | st.text(max_size=12)


@pytest.mark.parametrize("user", ["root", "chen"])
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_route_answers_500_to_hostile_combinations(
    signed_in: tuple[Fuzzer, list[Route]], user: str, data: Any
) -> None:
    """Several fields at once (from with to, number with call...), each route's own names."""
    fz, all_routes = signed_in
    route = data.draw(st.sampled_from([r for r in all_routes if r.rule.endpoint not in LAST]))
    api_post = route.method == "POST" and route.rule.rule.startswith("/api/")
    values = data.draw(
        st.dictionaries(
            st.sampled_from(route.names), JSON_VALUE if api_post else TEXT_VALUE, max_size=4
        )
    )
    fz.problems.clear()
    fz.fields(route, api_post, values)
    assert not fz.problems, fz.problems


# --- the fuzzer finds what it is for ----------------------------------------------------------


def test_a_new_route_is_fuzzed_and_its_failures_reported(
    app: Flask, web_runtime: Runtime, world: dict[str, str], login: Any
) -> None:
    def bomb() -> str:
        return str({"a": 1}[request.args.get("k", "a")])  # KeyError: a 500

    def unnamed() -> str:
        return str(int(request.args.get("n") or 0))  # ValueError: a 400 naming nothing

    app.add_url_rule("/fuzz-bomb", "fuzz_bomb", bomb)
    app.add_url_rule("/api/fuzz-unnamed", "fuzz_unnamed", unnamed)
    client = app.test_client()
    login(client, "root")
    fz = Fuzzer(client, web_runtime, world)
    found = {r.id: r for r in routes(app, client.get("/api/openapi.json").get_json())}
    assert found["GET /fuzz-bomb"].names == ["k", UNKNOWN]
    fz.fuzz(found["GET /fuzz-bomb"])
    fz.fuzz(found["GET /api/fuzz-unnamed"])
    assert any("/fuzz-bomb k=" in p and "KeyError" in p for p in fz.problems), fz.problems
    assert any("/api/fuzz-unnamed n=" in p and "names None" in p for p in fz.problems)


# --- defects the fuzzer found ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "param"),
    [
        # a blank path id was read as "absent", id 0: a 404 "No pending away request 0."
        ("/api/away-requests/%20", "request_id"),
        ("/api/away-requests/%09", "request_id"),
        # a sign, or spaces around the digits: another name for the same row
        ("/api/away-requests/+1", "request_id"),
        ("/api/away-requests/%2B1", "request_id"),
        ("/api/away-requests/-0", "request_id"),
        ("/api/away-requests/%201", "request_id"),
        ("/api/away-requests/1%20", "request_id"),
        ("/api/away-requests/0", "request_id"),
        ("/api/away-requests/2147483648", "request_id"),
    ],
)
def test_found_by_fuzzing(client, web_users, login, path: str, param: str) -> None:
    login(client, "root")
    token = client.get("/api/me").get_json()["csrf_token"]
    r = client.post(path, json={"decision": "approve"}, headers={"X-CSRF-Token": token})
    assert (r.status_code, r.get_json()["param"]) == (400, param), r.get_json()
    r = client.post("/board/requests/%20", data={"decision": "approve", "csrf_token": token})
    assert r.status_code == 400 and "request_id:" in r.get_data(as_text=True)
