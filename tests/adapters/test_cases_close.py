"""Callbacks closed against their case, on SQLite and PostgreSQL, through the real
ledger and the dialer's own claim and finish code: a completed callback is an event
on its case (who, when, outcome) and resolves an active complaint case (cases.yaml
`callbacks.on_done`); a failed one is an event and moves nothing; closing a case
cancels its open callbacks as ledger events; the callback rate counts the result.
And the escalation ladder recorded exactly once under concurrent sweeps."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from typing import cast

import pytest
from conftest import FixedClock

from ivr.adapters.db.callbacks import CallbackClosedError
from ivr.adapters.db.cases import CaseRepo
from ivr.adapters.db.engine import make_engine, make_session_factory
from ivr.app.cases import CaseService
from ivr.bootstrap import Runtime, callback_parts, case_parts, dialer_deps
from ivr.dialer.worker import finish
from ivr.domain.callbacks import AttemptOutcome, CallbackState, Dial, Skip, callback_rate
from ivr.domain.cases import CaseKind, CaseState, Escalation


@pytest.fixture
def rt(web_runtime: Runtime) -> Runtime:
    return web_runtime


def _dial_and_finish(rt: Runtime, request_id: int, outcome: AttemptOutcome) -> None:
    """What the dialer does with a due request: claim it for a seat, then record how
    the attempt ended (`ivr.dialer.worker.finish`)."""
    deps = dialer_deps(rt)
    now = rt.clock()
    claims = deps.repo.claim_due(
        now,
        50,
        "dialer-test",
        lambda r: Dial("seat1", "chen") if r.id == request_id else Skip("not this one"),
        max_dials=50,
    )
    [claim] = [c for c in claims if c.request.id == request_id]
    status = "ANSWER" if outcome is AttemptOutcome.ANSWERED else "NOANSWER"
    assert finish(deps, claim.attempt.action_id, outcome, status, "")


def _events(svc: CaseService, no: str) -> list[tuple[str, str, str]]:
    return [(e.action, e.who, e.detail) for e in svc.store.events(no)]


def test_a_completed_dialer_callback_is_written_on_its_case_and_resolves_it(rt: Runtime) -> None:
    svc = case_parts(rt).service
    opened = svc.open("+8613800000011", "cold room", "minor", by="chen")
    no = opened.case.case_no
    svc.update(no, by="chen", state=CaseState.IN_PROGRESS)
    [cb] = opened.callbacks
    cast(FixedClock, rt.clock).advance(hours=1)
    _dial_and_finish(rt, cb.id, AttemptOutcome.ANSWERED)

    after = callback_parts(rt).repo.get(cb.id)
    assert after is not None and after.state is CallbackState.COMPLETED
    case = svc.get(no)
    assert case.state is CaseState.RESOLVED and case.done_at == rt.clock()
    done = [e for e in svc.store.events(no) if e.action == "callback_done"]
    assert len(done) == 1
    assert done[0].who == "chen" and done[0].at == rt.clock()
    assert f"#{cb.id} complaint:{no}: completed (customer answered)" == done[0].detail
    last = svc.store.events(no)[-1]
    assert (last.action, last.from_state, last.to_state) == ("state", "in_progress", "resolved")
    # The complaint rule's rate now counts it as done on time.
    items = callback_parts(rt).repo.rate_items("complaint", rt.clock() - timedelta(days=1))
    rate = callback_rate(items, rt.clock())
    assert (rate.counted, rate.on_time, rate.rate) == (1, 1, 1.0)


def test_an_agent_marks_a_callback_done_by_hand(rt: Runtime) -> None:
    svc = case_parts(rt).service
    ledger = callback_parts(rt).repo
    opened = svc.open("+8613800000012", "lost luggage", "important", by="chen")
    [cb] = opened.callbacks
    with pytest.raises(ValueError, match="who"):
        ledger.complete(cb.id, rt.clock(), "")
    done = ledger.complete(cb.id, rt.clock(), "wang", "customer satisfied")
    assert done.state is CallbackState.COMPLETED and done.completed_at == rt.clock()
    with pytest.raises(CallbackClosedError, match="cannot be marked done"):
        ledger.complete(cb.id, rt.clock(), "wang")
    no = opened.case.case_no
    assert (
        "callback_done",
        "wang",
        f"#{cb.id} complaint:{no}: completed (customer satisfied)",
    ) in (_events(svc, no))
    assert svc.get(no).state is CaseState.RESOLVED
    assert ledger.history(cb.id)[-1].reason == "done by wang: customer satisfied"


def test_a_failed_callback_is_written_on_its_case_and_moves_nothing(rt: Runtime) -> None:
    svc = case_parts(rt).service
    opened = svc.open("+8613800000013", "noise", "minor", by="chen")
    [cb] = opened.callbacks
    clock = cast(FixedClock, rt.clock)
    for _ in range(rt.config.callbacks.retry.max_attempts):
        req = callback_parts(rt).repo.get(cb.id)
        assert req is not None and req.due_at is not None
        clock.at = max(clock.at, req.due_at)
        _dial_and_finish(rt, cb.id, AttemptOutcome.NO_ANSWER)
    req = callback_parts(rt).repo.get(cb.id)
    assert req is not None and req.state is CallbackState.FAILED
    no = opened.case.case_no
    ended = [e for e in _events(svc, no) if e[0].startswith("callback_")]
    assert ended == [("callback_ended", "chen", f"#{cb.id} complaint:{no}: failed (" + (
        f"no_answer: {rt.config.callbacks.retry.max_attempts} attempts used up)"))]  # fmt: skip
    assert svc.get(no).state is CaseState.OPEN


def test_closing_a_case_cancels_its_open_callbacks_in_the_ledger(rt: Runtime) -> None:
    svc = case_parts(rt).service
    ledger = callback_parts(rt).repo
    opened = svc.open(
        "+8613800000014",
        "room keys",
        "minor",
        CaseKind.COMPLAINT,
        by="chen",
        visitor=True,
        contract_start=date(2026, 10, 1),
    )
    no = opened.case.case_no
    ids = [c.id for c in opened.callbacks]
    assert len(ids) >= 3
    # The visitor's call was made by hand first: a courtesy call, the case stays open.
    ledger.complete(ids[1], rt.clock(), "chen")
    assert svc.get(no).state is CaseState.OPEN
    other = svc.open("+8613800000015", "other", "minor", by="chen").callbacks[0]

    svc.close(no, by="lead")

    states = {i: ledger.get(i).state for i in ids}  # type: ignore[union-attr]
    assert states[ids[1]] is CallbackState.COMPLETED
    assert {states[i] for i in ids if i != ids[1]} == {CallbackState.CANCELLED}
    for i in ids:
        if i != ids[1]:
            last = ledger.history(i)[-1]
            assert (last.to_state, last.reason) == ("cancelled", f"case {no} closed by lead")
    assert ledger.get(other.id).state is CallbackState.SCHEDULED  # type: ignore[union-attr]
    cancelled = [e for e in _events(svc, no) if e[0] == "callback_cancelled"]
    listed = ", ".join(f"#{i}" for i in ids if i != ids[1])
    assert cancelled == [("callback_cancelled", "lead", f"case closed: {listed}")]
    # One event on the case for them all (not one per cancelled callback).
    assert not [e for e in _events(svc, no) if e[0] == "callback_ended"]
    # Cancelled requests are not due any more: the rate leaves them out.
    items = ledger.rate_items("contract", rt.clock() - timedelta(days=1))
    assert callback_rate(items, rt.clock()).counted == 0


SWEEPERS, CASES = 4, 12


def test_concurrent_sweeps_record_each_escalation_step_exactly_once(rt: Runtime) -> None:
    svc = case_parts(rt).service
    numbers = [
        svc.open(f"+86138000001{i:02d}", f"leak {i}", "minor", by="chen").case.case_no
        for i in range(CASES)
    ]
    clock = cast(FixedClock, rt.clock)
    url = rt.engine.url.render_as_string(hide_password=False)
    results: list[list[tuple[str, Escalation]]] = []
    errors: list[BaseException] = []

    def sweep_all(barrier: threading.Barrier) -> None:
        engine = make_engine(url)
        try:
            mine = CaseService(
                CaseRepo(make_session_factory(engine)), svc.rules, svc.calendar, clock
            )
            barrier.wait(timeout=30)
            results.append(mine.sweep())
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)
        finally:
            engine.dispose()

    for hours, step in ((40, Escalation.LEAD), (40, Escalation.MANAGER)):
        clock.advance(hours=hours)
        results.clear()
        barrier = threading.Barrier(SWEEPERS)
        threads = [threading.Thread(target=sweep_all, args=(barrier,)) for _ in range(SWEEPERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        recorded = sorted(x for r in results for x in r)
        assert recorded == sorted((no, step) for no in numbers)
    for no in numbers:
        steps = [e.detail.split(":")[0] for e in svc.store.events(no) if e.action == "escalated"]
        assert steps == ["lead", "manager"], no
        assert svc.get(no).escalation is Escalation.MANAGER
