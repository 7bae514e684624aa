"""A local HTTP server that answers like Twilio's Calls API (2010-04-01), for the dialer's
Twilio backend: the real `twilio` REST client is pointed at it through its HTTP client.

It keeps the calls it created and answers, as the real API does: POST Calls.json (201
and the call), GET Calls/<sid>.json (the call), GET Calls.json?ParentCallSid= (a page
of child legs). A test scripts what happens: HTTP errors to answer first (429, 503,
500...), and for each created call the agent leg's final status and the customer's."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ACCOUNT = "AC00000000000000000000000000000000"
PREFIX = f"/2010-04-01/Accounts/{ACCOUNT}/Calls"


@dataclass
class Outcome:
    agent: str = "completed"  # the agent leg's final status
    customer: str | None = "completed"  # the customer leg's, None: never rung


@dataclass
class FakeCallsApi:
    errors: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # answered first
    # answered before those, body as is (not JSON-encoded); status 0: the connection is
    # closed without an answer
    raw: list[tuple[int, bytes]] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)  # one per created call, in order
    created: list[dict[str, str]] = field(default_factory=list)  # the form of each POST
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    auth: list[str] = field(default_factory=list)
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    port: int = 0
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def respond(
        self, method: str, raw_path: str, form: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            self.requests.append((method, raw_path))
            if self.errors:
                code, headers = self.errors.pop(0)
                return (
                    code,
                    {"code": 20000 + code, "message": f"error {code}", "status": code},
                    headers,
                )
            path = urlsplit(raw_path).path
            query = {k: v[0] for k, v in parse_qs(urlsplit(raw_path).query).items()}
            if method == "POST" and path == f"{PREFIX}.json":
                return 201, self._create(form), {}
            if method == "GET" and path == f"{PREFIX}.json":
                return 200, self._children(query.get("ParentCallSid", "")), {}
            if method == "GET" and path.startswith(f"{PREFIX}/") and path.endswith(".json"):
                sid = path[len(PREFIX) + 1 : -len(".json")]
                if sid in self.calls:
                    return 200, self.calls[sid], {}
            return 404, {"code": 20404, "message": "not found", "status": 404}, {}

    def _create(self, form: dict[str, str]) -> dict[str, Any]:
        self.created.append(form)
        n = next(self._ids)
        outcome = self.outcomes.pop(0) if self.outcomes else Outcome()
        sid = f"CA{n:032x}"
        call = _call(sid, outcome.agent, form.get("To", ""), form.get("From", ""))
        self.calls[sid] = call
        if outcome.agent == "completed" and outcome.customer is not None:
            child = _call(f"CA{n + 1000:032x}", outcome.customer, "", form.get("From", ""))
            child["parent_call_sid"] = sid
            self.calls[child["sid"]] = child
        return {**call, "status": "queued"}

    def _children(self, parent: str) -> dict[str, Any]:
        legs = [c for c in self.calls.values() if c.get("parent_call_sid") == parent]
        return {
            "calls": legs, "end": max(0, len(legs) - 1), "first_page_uri": f"{PREFIX}.json",
            "next_page_uri": None, "page": 0, "page_size": 50, "previous_page_uri": None,
            "start": 0, "uri": f"{PREFIX}.json",
        }  # fmt: skip


def _call(sid: str, status: str, to: str, from_: str) -> dict[str, Any]:
    return {
        "sid": sid, "account_sid": ACCOUNT, "status": status, "to": to, "from": from_,
        "parent_call_sid": None, "direction": "outbound-api", "api_version": "2010-04-01",
        "uri": f"{PREFIX}/{sid}.json",
    }  # fmt: skip


class _Handler(BaseHTTPRequestHandler):
    api: FakeCallsApi

    def _answer(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        form = {k: v[0] for k, v in parse_qs(body).items()}
        self.api.auth.append(self.headers.get("Authorization", ""))
        with self.api._lock:
            raw = self.api.raw.pop(0) if self.api.raw else None
        if raw is not None:
            self.api.requests.append((method, self.path))
            if raw[0] == 0:
                self.close_connection = True  # no status line: the client sees a reset
                return
            self._send(raw[0], raw[1], {})
            return
        code, payload, headers = self.api.respond(method, self.path, form)
        self._send(code, json.dumps(payload).encode(), headers)

    def _send(self, code: int, data: bytes, headers: dict[str, str]) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self._answer("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._answer("POST")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return


@contextmanager
def fake_calls_api() -> Iterator[FakeCallsApi]:
    api = FakeCallsApi()
    handler = type("Handler", (_Handler,), {"api": api})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    api.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
