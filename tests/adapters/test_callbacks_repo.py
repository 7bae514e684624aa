"""The callback ledger on SQLite and PostgreSQL: no duplicates, no double claims,
results applied once, every attempt and state change recorded."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlalchemy.orm import Session, sessionmaker

from ivr.adapters.db.base import Base
from ivr.adapters.db.callbacks import (
    CallbackClosedError,
    CallbackNotFoundError,
    CallbackRepo,
    ClaimDecision,
    Close,
    Defer,
    Dial,
    Skip,
)
from ivr.adapters.db.calllog import SqlCallLog
from ivr.adapters.db.engine import make_engine, make_session_factory
from ivr.adapters.db.models_callbacks import CALLBACK_TABLES
from ivr.app.callbacks import NewRequest
from ivr.domain.calendar import parse_window
from ivr.domain.callbacks import (
    AttemptOutcome,
    CallbackRequest,
    CallbackState,
    CallingRules,
    Plan,
    RetryPolicy,
    after_attempt,
    callback_rate,
)
from ivr.domain.calllog import CallEnded, CallStarted, Routed

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
S = CallbackState
RULES = CallingRules(
    weekly={d: (parse_window("09:00-20:00"),) for d in ("mon", "tue", "wed", "thu", "fri")},
    default_tz=SH,
)
POLICY = RetryPolicy(max_attempts=2, backoff=(timedelta(minutes=10),), busy_backoff=None)


@pytest.fixture
def repo(session_factory: sessionmaker[Session]) -> CallbackRepo:
    return CallbackRepo(session_factory)


def new(number: str = "+8613800000002", matter: str = "ivr", **kw: object) -> NewRequest:
    values: dict[str, object] = {
        "number": number,
        "matter": matter,
        "source": "ivr",
        "arrived_at": T0,
        "due_at": T0,
        "tz": "Asia/Shanghai",
        "language": "en",
        "branch": "complaints",
    }
    values.update(kw)
    return NewRequest(**values)  # type: ignore[arg-type]


def planner(req: CallbackRequest, outcome: AttemptOutcome, made: int) -> Plan:
    return after_attempt(outcome, made, T0, req.expires_at, req.number, SH, RULES, POLICY)


def dial_all(req: CallbackRequest) -> Dial:
    return Dial("seat1", "lead")


def claim_one(repo: CallbackRepo, at: datetime = T0) -> str:
    claims = repo.claim_due(at, 10, "test", dial_all, max_dials=1)
    assert len(claims) == 1
    return claims[0].attempt.action_id


# --- schema -------------------------------------------------------------------------


def test_migration_builds_the_tables_the_models_describe(engine: Engine) -> None:
    assert CALLBACK_TABLES <= set(inspect(engine).get_table_names())
    indexes = {ix["name"] for ix in inspect(engine).get_indexes("callback_requests")}
    assert {"uq_callback_requests_open", "ix_callback_requests_state_due"} <= indexes

    def only_callbacks(obj: object, name: str | None, type_: str, *_: object) -> bool:
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table in CALLBACK_TABLES

    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"include_object": only_callbacks, "compare_type": True}
        )
        assert list(compare_metadata(ctx, Base.metadata)) == []


# --- requests -------------------------------------------------------------------------


def test_add_schedules_and_keeps_language_branch_and_arrival(repo: CallbackRepo) -> None:
    arrived = T0 - timedelta(minutes=3)
    added = repo.add(new(arrived_at=arrived, number="+86 138-0000-0002"), T0)
    r = added.request
    assert added.created
    assert (r.state, r.number, r.language, r.branch) == (
        S.SCHEDULED,
        "+8613800000002",
        "en",
        "complaints",
    )
    assert (r.arrived_at, r.due_at, r.attempts) == (arrived, T0, 0)
    assert [(e.from_state, e.to_state) for e in repo.history(r.id)] == [
        (None, "requested"),
        ("requested", "scheduled"),
    ]


def test_one_open_request_per_number_and_matter(repo: CallbackRepo) -> None:
    first = repo.add(new(), T0).request
    again = repo.add(new(arrived_at=T0 + timedelta(hours=1), language="zh-CN"), T0)
    assert (again.created, again.request.id, again.request.language) == (False, first.id, "en")
    other = repo.add(new(matter="complaint:202611-0001"), T0)
    assert other.created and other.request.id != first.id
    repo.cancel(first.id, T0, "caller called again")
    reopened = repo.add(new(), T0 + timedelta(minutes=1))
    assert reopened.created and reopened.request.id not in (first.id, other.request.id)


def test_same_call_never_makes_two_requests(repo: CallbackRepo) -> None:
    first = repo.add(new(source_uid="1700000000.1"), T0).request
    repo.cancel(first.id, T0)
    again = repo.add(new(source_uid="1700000000.1"), T0)
    assert (again.created, again.request.id, again.request.state) == (False, first.id, S.CANCELLED)


def test_concurrent_adds_open_one_request(db_url: str, engine: Engine) -> None:
    barrier = threading.Barrier(6)
    ids: list[int] = []

    def worker() -> None:
        eng = make_engine(db_url)
        try:
            r = CallbackRepo(make_session_factory(eng))
            barrier.wait(timeout=30)
            ids.append(r.add(new(), T0).request.id)
        finally:
            eng.dispose()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(ids) == 6 and len(set(ids)) == 1


def test_cancel_rules(repo: CallbackRepo) -> None:
    with pytest.raises(CallbackNotFoundError):
        repo.cancel(999, T0)
    rid = repo.add(new(), T0).request.id
    action = claim_one(repo)
    assert repo.mark_connected(action, T0)
    with pytest.raises(CallbackClosedError, match="connected"):
        repo.cancel(rid, T0)


# --- claiming ---------------------------------------------------------------------------


def test_claim_takes_due_requests_first_arrived_first(repo: CallbackRepo) -> None:
    late = repo.add(new("+8613800000010", arrived_at=T0 - timedelta(minutes=1)), T0).request
    early = repo.add(new("+8613800000011", arrived_at=T0 - timedelta(minutes=9)), T0).request
    repo.add(new("+8613800000012", due_at=T0 + timedelta(hours=1)), T0)  # not yet due
    claims = repo.claim_due(T0, 10, "d1", dial_all, max_dials=5)
    assert [c.request.id for c in claims] == [early.id, late.id]
    assert all(c.request.state is S.DIALING for c in claims)
    assert claims[0].attempt.action_id == f"hotline-cb-{early.id}-1"
    assert (claims[0].attempt.seat, claims[0].attempt.dialer) == ("seat1", "d1")
    assert repo.claim_due(T0, 10, "d2", dial_all, max_dials=5) == []  # nothing twice


def test_claim_applies_defer_close_and_skip(repo: CallbackRepo) -> None:
    ids = [repo.add(new(f"+861380000002{i}"), T0).request.id for i in range(4)]
    later = T0 + timedelta(hours=20)
    decisions: dict[int, ClaimDecision] = {
        ids[0]: Defer(later, "outside calling hours"),
        ids[1]: Close(S.CANCELLED, "do-not-call"),
        ids[2]: Skip("no free agent"),
        ids[3]: Dial("seat2", "chen"),
    }
    claims = repo.claim_due(T0, 10, "d", lambda r: decisions[r.id], max_dials=5)
    assert [c.request.id for c in claims] == [ids[3]]
    states = {i: repo.get(i).state for i in ids}  # type: ignore[union-attr]
    assert states == {
        ids[0]: S.SCHEDULED,
        ids[1]: S.CANCELLED,
        ids[2]: S.SCHEDULED,
        ids[3]: S.DIALING,
    }
    assert repo.get(ids[0]).due_at == later  # type: ignore[union-attr]
    assert repo.history(ids[1])[-1].reason == "do-not-call"


def test_max_dials_caps_the_batch(repo: CallbackRepo) -> None:
    for i in range(5):
        repo.add(new(f"+861380000003{i}"), T0)
    assert len(repo.claim_due(T0, 10, "d", dial_all, max_dials=2)) == 2
    assert len(repo.due(T0, 10)) == 3


def test_concurrent_dialers_never_claim_the_same_request(db_url: str, engine: Engine) -> None:
    repo = CallbackRepo(make_session_factory(engine))
    for i in range(60):
        repo.add(new(f"+86139{i:08d}"), T0)
    barrier = threading.Barrier(4)
    claimed: list[int] = []
    lock = threading.Lock()

    def dialer(name: str) -> None:
        eng = make_engine(db_url)
        try:
            r = CallbackRepo(make_session_factory(eng))
            barrier.wait(timeout=30)
            while True:
                got = r.claim_due(T0, 5, name, dial_all, max_dials=5)
                if not got and not r.due(T0, 1):
                    return
                with lock:
                    claimed.extend(c.request.id for c in got)
        finally:
            eng.dispose()

    threads = [threading.Thread(target=dialer, args=(f"d{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(claimed) == 60 and len(set(claimed)) == 60
    attempts = Counter(a.request_id for a, _ in repo.open_attempts())
    assert len(attempts) == 60 and set(attempts.values()) == {1}


# --- results --------------------------------------------------------------------------------


def test_busy_then_answered(repo: CallbackRepo) -> None:
    rid = repo.add(new(), T0).request.id
    first = claim_one(repo)
    after = repo.finish_attempt(first, AttemptOutcome.BUSY, T0, planner, dial_status="BUSY")
    assert after is not None
    assert (after.state, after.attempts, after.due_at) == (S.RETRY, 1, T0 + timedelta(minutes=10))
    assert repo.finish_attempt(first, AttemptOutcome.ANSWERED, T0, planner) is None  # replay
    assert repo.claim_due(T0, 10, "d", dial_all, max_dials=5) == []  # not due yet
    t1 = T0 + timedelta(minutes=10)
    second = claim_one(repo, t1)
    assert repo.mark_connected(second, t1)
    assert not repo.mark_connected(second, t1)
    done = repo.finish_attempt(second, AttemptOutcome.ANSWERED, t1, planner, dial_status="ANSWER")
    assert done is not None and (done.state, done.attempts, done.completed_at) == (
        S.COMPLETED,
        2,
        t1,
    )
    attempts = repo.attempts(rid)
    assert [(a.seq, a.outcome, a.dial_status) for a in attempts] == [
        (1, "busy", "BUSY"),
        (2, "answered", "ANSWER"),
    ]
    assert [e.to_state for e in repo.history(rid)] == [
        "requested", "scheduled", "dialing", "retry", "dialing", "connected", "completed",
    ]  # fmt: skip


def test_connected_call_is_never_dialled_again(repo: CallbackRepo) -> None:
    rid = repo.add(new(), T0).request.id
    action = claim_one(repo)
    repo.mark_connected(action, T0)
    # The result arrives as "unknown" (e.g. reconciled after a restart): still completed.
    done = repo.finish_attempt(action, AttemptOutcome.UNKNOWN, T0, planner)
    assert done is not None and done.state is S.COMPLETED
    assert repo.get(rid).state is S.COMPLETED  # type: ignore[union-attr]


def test_attempts_run_out_and_agent_failures_do_not_count(repo: CallbackRepo) -> None:
    rid = repo.add(new(), T0).request.id
    t = T0
    outcomes = [AttemptOutcome.AGENT_UNAVAILABLE, AttemptOutcome.NO_ANSWER, AttemptOutcome.FAILED]
    for outcome in outcomes:
        action = claim_one(repo, t)
        req = repo.finish_attempt(action, outcome, t, planner)
        assert req is not None
        t = (req.due_at or t) + timedelta(seconds=1)
    final = repo.get(rid)
    assert final is not None and (final.state, final.attempts) == (S.FAILED, 2)
    assert [a.counted for a in repo.attempts(rid)] == [False, True, True]


def test_cancel_while_dialing_keeps_the_attempt(repo: CallbackRepo) -> None:
    rid = repo.add(new(), T0).request.id
    action = claim_one(repo)
    repo.cancel(rid, T0, "caller cancelled")
    after = repo.finish_attempt(action, AttemptOutcome.NO_ANSWER, T0, planner)
    assert after is not None and after.state is S.CANCELLED
    assert [a.outcome for a in repo.attempts(rid)] == ["no_answer"]


def test_expire_overdue(repo: CallbackRepo) -> None:
    rid = repo.add(new(expires_at=T0 + timedelta(days=1)), T0).request.id
    assert repo.expire_overdue(T0) == 0
    assert repo.expire_overdue(T0 + timedelta(days=1)) == 1
    assert repo.get(rid).state is S.EXPIRED  # type: ignore[union-attr]


def test_callback_rate_from_the_ledger(repo: CallbackRepo) -> None:
    deadline = T0 + timedelta(days=3)
    on_time = repo.add(new("+861", "complaint:1", deadline=deadline), T0).request.id
    repo.add(new("+862", "complaint:2", deadline=deadline), T0)
    repo.add(new("+863", "visitor:9", deadline=deadline), T0)
    claims = repo.claim_due(
        T0, 10, "d", lambda r: Dial("s", "a") if r.id == on_time else Skip(""), max_dials=5
    )
    repo.mark_connected(claims[0].attempt.action_id, T0)
    repo.finish_attempt(claims[0].attempt.action_id, AttemptOutcome.ANSWERED, T0, planner)
    items = repo.rate_items("complaint", T0 - timedelta(days=1))
    after = callback_rate(items, T0 + timedelta(days=4))
    assert (after.counted, after.on_time, after.rate) == (2, 1, 0.5)
    assert callback_rate(items, T0).pending == 1


# --- intake from the call log ------------------------------------------------------------


def test_calls_wanting_callback(repo: CallbackRepo, session_factory: sessionmaker[Session]) -> None:
    log = SqlCallLog(session_factory)
    t = T0 - timedelta(minutes=30)
    log.record_many(
        [
            CallStarted("k9", t, "13800000001"),
            Routed("k9", t, "menu", "callback", "13800000001", language="en"),
            CallStarted("vm", t, "13800000002"),
            Routed("vm", t, "operator", "voicemail", "hotline", language="zh-CN"),
            CallEnded("vm", t + timedelta(seconds=40)),
            CallStarted("ok", t, "13800000003"),
            Routed("ok", t, "enquiries", "queue", "enquiries"),
            CallStarted("old", t - timedelta(days=3), "13800000004"),
            Routed("old", t - timedelta(days=3), "menu", "callback", "13800000004"),
        ]
    )
    found = repo.calls_wanting_callback(T0 - timedelta(days=1), ["callback"], ["voicemail"])
    assert [(c.uid, c.language, c.route_kind) for c in found] == [
        ("k9", "en", "callback"),
        ("vm", "zh-CN", "voicemail"),
    ]
    repo.add(new("13800000001", source_uid="k9"), T0)
    again = repo.calls_wanting_callback(T0 - timedelta(days=1), ["callback"], ["voicemail"])
    assert [c.uid for c in again] == ["vm"]
