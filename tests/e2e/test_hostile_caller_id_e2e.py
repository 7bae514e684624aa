"""Hostile SIP caller IDs through the real path: SIPp's From header, the sandbox
Asterisk, the FastAGI service and the call log, on SQLite and on PostgreSQL.

A caller ID is what the caller's side put in its From header: anything at all.
Whatever it is, the call is served like any other (the menu, the key, a route),
it has exactly one record, and the record holds no control characters. The
service keeps serving the calls after them.
"""

from __future__ import annotations

import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor

import pytest
from e2e_stack import WEEKDAY_10, Stack
from sqlalchemy import select

from ivr.adapters.db.models import Call
from ivr.domain.calllog import Outcome
from lab.sipp import CallResult, place_call
from web.app import close_app

pytestmark = pytest.mark.e2e

# (the From URI's user part, its display name); lab.sipp escapes both for the
# wire as a SIP stack would (percent-encoding, quoted-string escapes)
HOSTILE = [
    ("anonymous", ""),
    ("", "Anonymous"),
    ("+", ""),
    ("9" * 40, ""),
    ("13800000000;phone-context=+86", ""),
    ("<script>alert(1)</script>", "<b>x</b>"),
    ("' OR 1=1 --", "'); DROP TABLE calls; --"),
    ("%00%0d%0a", "%00"),
    ("１３８００００１２３４", "全角号码"),  # fullwidth digits
    ("13800001235", 'A "quoted" \\ name'),
    ("13800001236", "名" * 300),
    # an emoji, a right-to-left override, a zero width space, a tab
    ("13800001237", "😀\u202e\u200b\t"),
]
KEY_MS = 700  # the caller's key after the ACK; it hangs up HANGUP_MS after the ACK
HANGUP_MS = 3500


def _call(caller: str, display: str) -> CallResult:
    return place_call(
        "1",
        caller,
        display=display,
        first_key_delay_ms=KEY_MS,
        hangup_after_ms=HANGUP_MS,
        timeout_s=30,
    )


def _records_after(
    stack: Stack, watermark: int, expected: int, timeout: float = 30.0
) -> list[Call]:
    """The call rows above `watermark`, once `expected` of them have ended."""
    deadline = time.monotonic() + timeout
    rows: list[Call] = []
    while time.monotonic() < deadline:
        with stack.runtime.sessions() as s:
            rows = list(s.scalars(select(Call).where(Call.id > watermark).order_by(Call.id)))
            s.expunge_all()
        if len(rows) >= expected and all(r.ended_at is not None for r in rows):
            break
        time.sleep(0.3)
    return rows


def _unsafe(text: str) -> list[str]:
    """Control characters, and the bidirectional controls that can make a row of
    the call log read as something else ("Trojan Source")."""
    return [ch for ch in text if unicodedata.category(ch) == "Cc" or ch in BIDI_CONTROLS]


BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def test_hostile_caller_ids_are_served_and_recorded_once(stack: Stack) -> None:
    stack.at(WEEKDAY_10)
    watermark = stack.runtime.calls.last_id()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda cd: _call(*cd), HOSTILE))
    for (caller, display), result in zip(HOSTILE, results, strict=True):
        assert result.ok, (caller, display, result)  # answered, and ended cleanly

    rows = _records_after(stack, watermark, len(HOSTILE))
    # exactly one record a call: as many rows as calls, each on its own channel
    assert len(rows) == len(HOSTILE), [(r.caller, r.caller_name, r.channel) for r in rows]
    assert len({r.channel for r in rows}) == len(HOSTILE)
    for r in rows:
        where = (r.caller, r.caller_name)
        assert r.source == "fastagi", where
        assert r.ended_at is not None, where
        # the menu took the key and routed the call: nobody was left in silence
        assert r.route_kind == "queue" and r.branch == "enquiries", where
        assert r.outcome in (Outcome.ANSWERED.value, Outcome.ABANDONED_WAITING.value), where
        assert not _unsafe(r.caller) and not _unsafe(r.caller_name), where

    # what parses as a number is stored in E.164, whatever its digits were
    callers = {r.caller for r in rows}
    assert "+8613800001234" in callers  # the fullwidth one
    assert {"+8613800001235", "+8613800001236", "+8613800001237"} <= callers
    names = {r.caller: r.caller_name for r in rows}
    # a display name reads as the caller's phone showed it: SIP's quoted-string
    # escapes undone, Asterisk's "unknown" for none left blank, format characters
    # (bidi controls, zero width ones) dropped
    assert names["+8613800001235"] == 'A "quoted" \\ name'
    assert names["+8613800001234"] == "全角号码"
    assert names["+8613800001237"] == "😀"  # the zero width space is dropped too
    assert names["<script>alert(1)</script>"] == "<b>x</b>"
    assert names["+"] == ""
    assert sorted(n for c, n in ((r.caller, r.caller_name) for r in rows) if c == "anonymous") == [
        "",
        "Anonymous",
    ]

    # the staff's call log shows them safely: the list, each call, the export
    client = stack.staff_client(f"e2e-callerid-{stack.backend}", "supervisor")
    try:
        listing = client.get("/calls")
        assert listing.status_code == 200
        assert "<script>" not in listing.get_data(as_text=True)
        for r in rows:
            detail = client.get(f"/calls/{r.uid}")
            assert detail.status_code == 200, (r.caller, r.caller_name)
            assert "<script>" not in detail.get_data(as_text=True)
        export = client.get("/calls/export.csv")
        assert export.status_code == 200 and export.mimetype == "text/csv"
        # a row for each of them (and the calls of other tests)
        assert export.get_data(as_text=True).count("\n") > len(HOSTILE)
    finally:
        close_app(client.application)

    # and the service goes on serving an ordinary caller normally
    number = f"1390{0 if stack.backend == 'sqlite' else 1}999001"
    result = place_call("1", number, hold_ms=1500, timeout_s=30)
    assert result.ok, result
    rec = stack.call_record(number)
    assert rec.route_kind == "queue" and rec.outcome is Outcome.ANSWERED
    assert stack.calls_from(number) == 1
