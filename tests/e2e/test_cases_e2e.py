"""Cases through the sandbox Asterisk with SIPp, on SQLite and PostgreSQL: a call answered
by a seat, a case opened through the API with that call's id, its callback in the ledger
with the case's deadline, the caller routed to the case's owner on the next call (the
trace says why); an after-hours complaints call opens a case and hears its number."""

from __future__ import annotations

import itertools
import time
from datetime import timedelta
from typing import Any

import pytest
from e2e_stack import SUNDAY_10, WEEKDAY_10, Stack

from ivr.adapters.db.cases import CaseFilter, CaseRepo
from ivr.bootstrap import callback_parts
from lab.sipp import place_call
from web.app import close_app

pytestmark = pytest.mark.e2e

_numbers = itertools.count(1)


def caller(stack: Stack) -> str:
    return f"1391{0 if stack.backend == 'sqlite' else 1}{next(_numbers):06d}"


def _post(client: Any, path: str, body: dict[str, Any]) -> Any:
    token = client.get("/api/me").get_json()["csrf_token"]
    return client.post(path, json=body, headers={"X-CSRF-Token": token})


def test_case_from_an_answered_call_and_the_next_call_goes_to_its_owner(stack: Stack) -> None:
    stack.at(WEEKDAY_10)
    number = caller(stack)
    assert place_call("2", number, hold_ms=1500, timeout_s=30).ok
    first = stack.call_record(number)
    assert first.answered_agent and first.branch == "complaints"

    agent = stack.staff_client(f"e2e-{first.answered_agent}-{stack.backend}", "agent",
                    first.answered_agent)  # fmt: skip
    r = _post(agent, "/api/cases", {"call": first.uid, "class": "minor", "matter": "noise"})
    assert r.status_code == 201, r.get_json()
    opened = r.get_json()
    no = opened["case_no"]
    case = CaseRepo(stack.runtime.sessions).get(no)
    assert case is not None
    assert case.owner == first.answered_agent and case.calls == (first.uid,)
    assert case.number == "+86" + number
    assert case.deadline == case.opened_at + timedelta(hours=72)
    [cb] = [
        r for r in callback_parts(stack.runtime).repo.listing() if r.matter == f"complaint:{no}"
    ]
    assert cb.number == "+86" + number and cb.deadline == case.deadline

    # The lead hands the case to another agent on duty: the next call goes to that
    # owner, not to the agent of the last call.
    others = {"chen": "seat2", "zhang": "seat4"}
    owner = next(a for a in others if a != first.answered_agent)
    lead = stack.staff_client(f"e2e-lead-{stack.backend}", "supervisor", "lead")
    assert _post(lead, f"/api/cases/{no}", {"owner": owner}).status_code == 200
    assert place_call("1", number, hold_ms=1500, timeout_s=30).ok
    time.sleep(0.5)
    second = stack.call_record(number)
    assert second.uid != first.uid
    assert second.route_kind == "seat" and second.route_target == f"PJSIP/{others[owner]}"
    assert second.answered_agent == owner
    assert second.decision is not None
    assert f"open case {no}: owner {owner} (first contact)" in second.decision.trace
    for client in (agent, lead):
        close_app(client.application)


def test_after_hours_complaint_opens_a_case_and_the_caller_hears_its_number(
    stack: Stack,
) -> None:
    stack.at(SUNDAY_10)
    number = caller(stack)
    log = stack.sandbox.root / "var/log/asterisk/messages"
    before = log.stat().st_size if log.exists() else 0
    result = place_call("2", number, hold_ms=70000, timeout_s=90)
    assert result.ok, result
    assert result.hung_up_by == "asterisk"
    rec = stack.call_record(number)
    assert rec.route_kind == "callback" and rec.branch == "complaints"
    repo = CaseRepo(stack.runtime.sessions)
    [found] = repo.search(CaseFilter(number="+86" + number))
    case = repo.get(found.case_no)
    assert case is not None
    assert case.calls == (rec.uid,) and case.opened_by == "ivr" and case.owner == ""
    assert case.term == "departed" and case.deadline == case.opened_at + timedelta(hours=72)
    assert case.case_no.startswith("202611-")
    callbacks = [r for r in callback_parts(stack.runtime).repo.listing() if r.number == case.number]
    assert [r.matter for r in callbacks] == [f"complaint:{case.case_no}"]  # no second request
    assert callbacks[0].deadline == case.deadline
    with log.open(encoding="utf-8", errors="replace") as f:
        f.seek(before)
        said = [line for line in f if f"case {case.case_no} told to the caller" in line]
    assert len(said) == 1 and said[0].rstrip().endswith("SUCCESS"), said
