"""The callback dialer through the sandbox Asterisk: SIPp seats answer as agents,
a SIPp UAS behind the `customers` trunk answers, is busy or never answers as
each number says. The ledger is read back from the real database (SQLite and
PostgreSQL, with the shared `stack` fixture).
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from e2e_stack import REPO, WEEKDAY_10, Stack

from ivr.adapters.db.callbacks import CallbackRepo
from ivr.app.callbacks import NewRequest
from ivr.bootstrap import CallbackParts, build_dialer, callback_parts, case_parts
from ivr.config import CallbackSettings, load_config
from ivr.dialer import asterisk_conf
from ivr.dialer.worker import Dialer
from ivr.domain.callbacks import CallbackRequest, CallbackState, RetryPolicy
from ivr.domain.cases import CaseState
from lab.sipp import place_call
from lab.sipp_customers import BUSY, NEVER_ANSWERS, CustomerPhones

pytestmark = [
    pytest.mark.e2e,
    # asterisk-ami 0.1.7 calls Condition.notifyAll() on its reader thread.
    pytest.mark.filterwarnings("ignore:notifyAll:DeprecationWarning"),
]

S = CallbackState
_numbers = itertools.count(1)
COMPLAINT_SEATS = {"seat1", "seat2", "seat4"}  # lead, chen, zhang
HOLD_MS = 2500  # how long an answering customer talks


def number(stack: Stack, ending: str = "") -> str:
    """A fresh customer number; its ending tells the SIPp customer what to do."""
    n = f"+86138{0 if stack.backend == 'sqlite' else 1}{next(_numbers):04d}"
    return n + (ending or "000")


def fast_settings(base: CallbackSettings, **retry: object) -> CallbackSettings:
    policy = RetryPolicy(
        max_attempts=int(retry.get("max_attempts", 2)),  # type: ignore[call-overload]
        backoff=(timedelta(seconds=1),),
        busy_backoff=timedelta(seconds=1),
        agent_retry=timedelta(seconds=1),
    )
    dialer = replace(
        base.dialer, customer_ring_seconds=3, agent_ring_seconds=5, poll_seconds=0.2,
        reconcile_seconds=2,
    )  # fmt: skip
    intake = replace(base.intake, scan_seconds=0.5)
    return replace(base, retry=policy, dialer=dialer, intake=intake)


@pytest.fixture
def cb(stack: Stack) -> Iterator[Stack]:
    """The stack at a weekday 10:00 with the callback dialplan and trunk installed."""
    stack.at(WEEKDAY_10)
    settings = load_config(stack.runtime.config.directory).callbacks
    asterisk_conf.install_into(stack.sandbox.config_dir, settings.dialer)
    stack.sandbox.rx("dialplan reload")
    stack.sandbox.rx("module reload res_pjsip.so")
    _wait(lambda: "customers" in stack.sandbox.rx("pjsip show endpoints"), 10, "trunk")
    yield stack
    repo = CallbackRepo(stack.runtime.sessions)
    for req in repo.listing():
        if req.state is not S.CONNECTED:
            repo.cancel(req.id, stack.runtime.clock(), "test over")


@pytest.fixture
def customers(cb: Stack) -> Iterator[CustomerPhones]:
    port = load_config(cb.runtime.config.directory).callbacks.dialer.trunk_port
    with CustomerPhones(port=port, ring_ms=200, hold_ms=HOLD_MS) as phones:
        yield phones


class DialerThread:
    def __init__(self, stack: Stack, settings: CallbackSettings, name: str = "e2e") -> None:
        self.parts: CallbackParts = callback_parts(stack.runtime, settings)
        self.dialer: Dialer = build_dialer(stack.runtime, self.parts, name)
        self.thread = threading.Thread(target=self.dialer.run, daemon=True)

    def __enter__(self) -> DialerThread:
        self.thread.start()
        assert self.dialer.link.wait_connected(20), "dialer could not log in to AMI"
        return self

    def __exit__(self, *exc: object) -> None:
        self.dialer.stop()
        self.thread.join(15)


def _wait(check: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _settled(repo: CallbackRepo, rid: int, timeout: float = 40) -> CallbackRequest:
    """Wait until request `rid` is closed; return it."""
    found: list[CallbackRequest] = []

    def closed() -> bool:
        req = repo.get(rid)
        found[:] = [req] if req else []
        return req is not None and req.state not in (S.SCHEDULED, S.RETRY, S.DIALING, S.CONNECTED)

    try:
        _wait(closed, timeout, f"callback {rid} to finish")
    except AssertionError as e:
        history = [(h.to_state, h.reason) for h in repo.history(rid)]
        tries = [(a.seat, a.outcome, a.dial_status, a.detail) for a in repo.attempts(rid)]
        raise AssertionError(f"{e}: {found}, history {history[:8]}, attempts {tries[:4]}") from None
    return found[0]


def _states(repo: CallbackRepo, rid: int) -> list[str]:
    return [e.to_state for e in repo.history(rid)]


# --- outcomes -------------------------------------------------------------------------


def test_answered_callback_moves_through_the_ledger(cb: Stack, customers: CustomerPhones) -> None:
    settings = fast_settings(load_config(cb.runtime.config.directory).callbacks)
    with DialerThread(cb, settings) as d:
        n = number(cb)
        arrived = cb.runtime.clock() - timedelta(minutes=2)
        promise = d.parts.intake.request_from_ivr(n, "en", "complaints", arrived, uid=None)
        req = _settled(d.parts.repo, promise.id)
    assert req.state is S.COMPLETED and req.attempts == 1 and req.language == "en"
    assert _states(d.parts.repo, req.id) == [
        "requested", "scheduled", "dialing", "connected", "completed",
    ]  # fmt: skip
    [attempt] = d.parts.repo.attempts(req.id)
    assert (attempt.outcome, attempt.dial_status) == ("answered", "ANSWER")
    assert attempt.seat in COMPLAINT_SEATS  # an agent with the complaints skill
    assert attempt.sent_at is not None and attempt.connected_at is not None
    assert customers.dial_counts()[n] == 1
    seat_call = cb.seats.wait_for_call(n)  # the agent saw the customer's number
    assert seat_call.seat == attempt.seat and "CB en complaints" in seat_call.display


def test_a_case_callback_answered_through_asterisk_is_closed_against_its_case(
    cb: Stack, customers: CustomerPhones
) -> None:
    settings = fast_settings(load_config(cb.runtime.config.directory).callbacks)
    svc = case_parts(cb.runtime).service
    opened = svc.open(number(cb), "hot water cold", "minor", by="chen", owner="chen")
    no, [promise] = opened.case.case_no, opened.callbacks
    with DialerThread(cb, settings) as d:
        req = _settled(d.parts.repo, promise.id)
    assert req.state is S.COMPLETED and req.matter == f"complaint:{no}"
    [attempt] = d.parts.repo.attempts(req.id)
    case = svc.get(no)
    assert case.state is CaseState.RESOLVED  # cases.yaml callbacks.on_done: complaint
    [done] = [e for e in svc.store.events(no) if e.action == "callback_done"]
    assert done.who == attempt.agent_id and done.who
    assert done.detail == f"#{req.id} complaint:{no}: completed (customer answered)"
    assert case.done_at == done.at


def test_busy_customer_is_retried_by_the_policy_then_fails(
    cb: Stack, customers: CustomerPhones
) -> None:
    settings = fast_settings(load_config(cb.runtime.config.directory).callbacks, max_attempts=2)
    with DialerThread(cb, settings) as d:
        n = number(cb, BUSY)
        promise = d.parts.intake.request_from_ivr(n, "zh-CN", "menu", cb.runtime.clock())
        req = _settled(d.parts.repo, promise.id)
    assert (req.state, req.attempts, req.last_outcome) == (S.FAILED, 2, "busy")
    assert _states(d.parts.repo, req.id) == [
        "requested", "scheduled", "dialing", "retry", "dialing", "failed",
    ]  # fmt: skip
    first, second = d.parts.repo.attempts(req.id)
    assert (first.dial_status, second.dial_status) == ("BUSY", "BUSY")
    assert first.ended_at is not None
    assert second.started_at - first.ended_at >= timedelta(seconds=1)  # busy back-off
    assert customers.dial_counts()[n] == 2


def test_customer_who_never_answers_is_retried(cb: Stack, customers: CustomerPhones) -> None:
    settings = fast_settings(load_config(cb.runtime.config.directory).callbacks, max_attempts=2)
    with DialerThread(cb, settings) as d:
        n = number(cb, NEVER_ANSWERS)
        promise = d.parts.intake.request_from_ivr(n, "zh-CN", "menu", cb.runtime.clock())
        req = _settled(d.parts.repo, promise.id, timeout=60)
    assert (req.state, req.attempts, req.last_outcome) == (S.FAILED, 2, "no_answer")
    attempts = d.parts.repo.attempts(req.id)
    assert [a.dial_status for a in attempts] == ["NOANSWER", "NOANSWER"]
    for a in attempts:  # the customer leg rang for customer_ring_seconds
        assert a.ended_at is not None and a.ended_at - a.started_at >= timedelta(seconds=3)
    assert customers.dial_counts()[n] == 2


def test_in_flight_calls_never_exceed_free_agents_with_the_skill(
    cb: Stack, customers: CustomerPhones
) -> None:
    settings = fast_settings(load_config(cb.runtime.config.directory).callbacks)
    settings = replace(settings, dialer=replace(settings.dialer, originate_rate=20, burst=5))
    repo = CallbackRepo(cb.runtime.sessions)
    with DialerThread(cb, settings) as d:
        ids = [
            d.parts.intake.request_from_ivr(
                number(cb), "zh-CN", "complaints", cb.runtime.clock()
            ).id
            for _ in range(5)
        ]
        reqs = [_settled(repo, i, timeout=60) for i in ids]
    assert all(r.state is S.COMPLETED for r in reqs)
    spans = [(a.started_at, a.ended_at, a.seat) for i in ids for a in repo.attempts(i)]
    assert {seat for _, _, seat in spans} <= COMPLAINT_SEATS
    for start, _, _ in spans:  # at each start, how many calls were up?
        up = sum(1 for s, e, _ in spans if s <= start and (e is None or e > start))
        assert up <= len(COMPLAINT_SEATS)
    assert max(sum(1 for s, e, _ in spans if s <= t and e and e > t) for t, _, _ in spans) >= 2


# --- the IVR -------------------------------------------------------------------------------


def test_key_9_in_a_real_call_is_dialled_back(cb: Stack, customers: CustomerPhones) -> None:
    settings = fast_settings(load_config(cb.runtime.config.directory).callbacks)
    caller = f"1370{0 if cb.backend == 'sqlite' else 1}{next(_numbers):06d}"
    with DialerThread(cb, settings) as d:
        result = place_call("9", caller, hold_ms=20000, timeout_s=40)
        assert result.ok, result
        rec = cb.call_record(caller)
        assert rec.route_kind == "callback"
        _wait(lambda: any(r.source_uid == rec.uid for r in d.parts.repo.listing(list(S))), 20,
              "the request from the call")  # fmt: skip
        [req] = [r for r in d.parts.repo.listing(list(S)) if r.source_uid == rec.uid]
        e164 = "+86" + caller  # national caller ID in the sample's site.region CN
        assert (req.number, req.source, req.arrived_at) == (e164, "ivr", rec.started_at)
        assert rec.decision is not None and req.language == rec.decision.language
        done = _settled(d.parts.repo, req.id)
    assert done.state is S.COMPLETED
    assert customers.dial_counts()[e164] == 1


# --- calling hours, time zones, do-not-call -----------------------------------------------------

NY_NUMBER = "+12125550199"
DNC_NUMBER = "+8613911112222"


def test_dialer_keeps_calling_hours_time_zones_and_dnc(
    cb: Stack, customers: CustomerPhones
) -> None:
    base = load_config(cb.runtime.config.directory).callbacks
    settings = replace(fast_settings(base), do_not_call=base.do_not_call | {DNC_NUMBER})
    with DialerThread(cb, settings) as d:
        repo, intake = d.parts.repo, d.parts.intake
        now = cb.runtime.clock()  # Monday 10:00 in Shanghai = Sunday 21:00 in New York
        local = intake.request_from_ivr(number(cb), "zh-CN", "menu", now)
        new_york = repo.add(due_now(NY_NUMBER, now, "America/New_York"), now).request
        blocked = repo.add(due_now(DNC_NUMBER, now, "Asia/Shanghai"), now).request
        assert _settled(repo, local.id).state is S.COMPLETED
        _wait(lambda: repo.get(blocked.id).state is S.CANCELLED, 10, "DNC cancelled")  # type: ignore[union-attr]
        _wait(lambda: repo.get(new_york.id).due_at != now, 10, "NY request deferred")  # type: ignore[union-attr]
    ny = repo.get(new_york.id)
    assert ny is not None and ny.state is S.SCHEDULED
    assert ny.due_at == datetime.fromisoformat("2026-11-23T09:00:00-05:00")
    assert "outside calling hours" in repo.history(ny.id)[-1].reason
    assert "do-not-call" in repo.history(blocked.id)[-1].reason
    assert customers.dial_counts()[NY_NUMBER] == 0
    assert customers.dial_counts()[DNC_NUMBER] == 0


def due_now(n: str, now: datetime, tz: str) -> NewRequest:
    """A request due now, bypassing the intake's own checks: the dialer must apply them."""
    return NewRequest(n, "ivr", "cli", now, now, tz, expires_at=now + timedelta(days=7))


# --- restarts -----------------------------------------------------------------------------------


def _dialer_process(config: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "dialer", "--config", str(config), "-v"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO,
    )  # fmt: skip


@pytest.fixture
def fast_config(cb: Stack, tmp_path: Path) -> Path:
    """A copy of the stack's config with fast retries and short rings for a real process."""
    target = tmp_path / "config"
    shutil.copytree(cb.runtime.config.directory, target)
    path = target / "callbacks.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["dialer"].update(poll_seconds=0.2, reconcile_seconds=1, customer_ring_seconds=3)
    data["retry"].update(backoff_minutes=[0.02], busy_backoff_minutes=0.02)
    data["intake"]["scan_seconds"] = 0.5
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return target


def test_killing_the_dialer_mid_call_loses_nothing_and_dials_nothing_twice(
    cb: Stack, customers: CustomerPhones, fast_config: Path
) -> None:
    def env() -> dict[str, str]:  # the stack's "now" when each process starts
        return os.environ | {
            "HOTLINE_DATABASE_URL": cb.runtime.config.database_url,
            "HOTLINE_DATA_DIR": str(cb.runtime.config.data_dir),
            "HOTLINE_NOW": cb.runtime.clock().isoformat(),
        }

    parts = callback_parts(cb.runtime)
    numbers = [number(cb) for _ in range(3)]
    ids = [
        parts.intake.request_from_ivr(n, "zh-CN", "menu", cb.runtime.clock()).id for n in numbers
    ]
    first = _dialer_process(fast_config, env())
    try:
        _wait(lambda: all(customers.dial_counts()[n] == 1 for n in numbers), 30, "3 calls up")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert all(parts.repo.get(i).state in (S.DIALING, S.CONNECTED) for i in ids)  # type: ignore[union-attr]
    late = number(cb)
    late_id = parts.intake.request_from_ivr(late, "zh-CN", "menu", cb.runtime.clock()).id
    second = _dialer_process(fast_config, env())  # calls are still up: it must adopt them
    try:
        done = [_settled(parts.repo, i, timeout=40) for i in [*ids, late_id]]
        # Killed again mid-call, and this time the calls end while no dialer runs:
        # the next one learns from AstDB that the customers were reached.
        more = [number(cb) for _ in range(2)]
        more_ids = [
            parts.intake.request_from_ivr(n, "zh-CN", "menu", cb.runtime.clock()).id for n in more
        ]
        _wait(lambda: all(customers.dial_counts()[n] == 1 for n in more), 30, "2 calls up")
    finally:
        second.send_signal(signal.SIGKILL)
        second.wait(10)
    _wait(lambda: _no_calls(cb), 30, "the calls to end with no dialer running")
    assert all(parts.repo.get(i).state in (S.DIALING, S.CONNECTED) for i in more_ids)  # type: ignore[union-attr]
    third = _dialer_process(fast_config, env())
    try:
        done += [_settled(parts.repo, i, timeout=40) for i in more_ids]
    finally:
        third.send_signal(signal.SIGTERM)
        third.wait(15)
    assert [r.state for r in done] == [S.COMPLETED] * 6
    assert [r.attempts for r in done] == [1] * 6
    counts = customers.dial_counts()
    assert [counts[n] for n in [*numbers, late, *more]] == [1] * 6
    reconciled = [a.detail for i in more_ids for a in parts.repo.attempts(i)]
    assert all(d.startswith("reconciled:") for d in reconciled), reconciled


def _no_calls(stack: Stack) -> bool:
    counts: str = stack.sandbox.rx("core show channels count")
    return counts.strip().startswith("0 active channels")


# While Asterisk is down, AmiLink's failed reconnects leave their sockets to the GC
# (ivr/adapters/asterisk/ami.py, AmiLink._connect); reported to its owner.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_asterisk_restart_the_dialer_reconnects_and_continues(
    cb: Stack, customers: CustomerPhones
) -> None:
    settings = fast_settings(load_config(cb.runtime.config.directory).callbacks)
    with DialerThread(cb, settings) as d:
        repo, intake = d.parts.repo, d.parts.intake
        before = number(cb)
        rid = intake.request_from_ivr(before, "zh-CN", "menu", cb.runtime.clock()).id
        _wait(lambda: repo.get(rid).state is S.CONNECTED, 20, "the first call to connect")  # type: ignore[union-attr]
        connects = d.dialer.link.connects
        cb.sandbox.stop()
        cb.sandbox.start()
        _wait(lambda: d.dialer.link.connects > connects, 30, "the dialer to reconnect")
        first = _settled(repo, rid)
        after = number(cb)
        rid2 = intake.request_from_ivr(after, "zh-CN", "menu", cb.runtime.clock()).id
        second = _settled(repo, rid2)
    assert (first.state, first.attempts) == (S.COMPLETED, 1)  # connected: never dialled again
    assert second.state is S.COMPLETED
    assert customers.dial_counts()[before] == 1 and customers.dial_counts()[after] == 1
