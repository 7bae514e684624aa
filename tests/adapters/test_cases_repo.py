"""Cases on SQLite and PostgreSQL: numbers unique under concurrent writers, month
rollover, events for every change, calls linked, callbacks in the ledger with the
case's deadline, the escalation sweep and the survey's "not resolved" hook."""

from __future__ import annotations

import multiprocessing
from datetime import date, datetime, timedelta
from multiprocessing.synchronize import Barrier
from typing import cast
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import CallBuilder, FixedClock
from sqlalchemy import Engine, inspect

from ivr.adapters.db.base import Base
from ivr.adapters.db.cases import CaseFilter, CaseRepo
from ivr.adapters.db.engine import make_engine, make_session_factory
from ivr.adapters.db.models_cases import CASE_TABLES
from ivr.app.cases import CaseInput, CaseInputError, NewCase
from ivr.bootstrap import Runtime, callback_parts, case_parts
from ivr.domain.callbacks import CallbackState
from ivr.domain.cases import CaseKind, CaseState, CaseTransitionError, Escalation
from ivr.phone import NumberError, NumberProblem

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=SH)  # Monday 10:00
WORKERS, PER_WORKER = 4, 15


def _new(at: datetime, month: str = "202611") -> NewCase:
    return NewCase(
        month=month,
        kind=CaseKind.COMPLAINT,
        case_class="minor",
        number="+8613800000002",
        matter="noise",
        owner="chen",
        branch="complaints",
        term="departed",
        opened_at=at,
        deadline=at + timedelta(hours=72),
        opened_by="test",
        summary="",
        escalation=Escalation.NONE,
        call_uid=None,
    )


def _creator(url: str, worker: int, barrier: Barrier) -> None:
    engine = make_engine(url)
    try:
        repo = CaseRepo(make_session_factory(engine))
        barrier.wait(timeout=60)
        for _ in range(PER_WORKER):
            repo.create(_new(T0), [])
    finally:
        engine.dispose()


def test_migration_0008_builds_what_the_models_describe(engine: Engine) -> None:
    assert CASE_TABLES <= set(inspect(engine).get_table_names())

    def only_cases(obj: object, name: str | None, type_: str, *_: object) -> bool:
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table in CASE_TABLES

    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"include_object": only_cases, "compare_type": True}
        )
        assert list(compare_metadata(ctx, Base.metadata)) == []


def test_numbers_are_unique_and_gapless_under_concurrent_writer_processes(
    db_url: str, engine: Engine
) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(WORKERS)
    procs = [ctx.Process(target=_creator, args=(db_url, w, barrier)) for w in range(WORKERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * WORKERS
    repo = CaseRepo(make_session_factory(engine))
    numbers = [c.case_no for c in repo.search(CaseFilter(), limit=1000)]
    assert sorted(numbers) == [f"202611-{n:04d}" for n in range(1, WORKERS * PER_WORKER + 1)]


def test_numbers_under_concurrent_threads_in_one_process(engine: Engine) -> None:
    import threading

    repo = CaseRepo(make_session_factory(engine))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            for _ in range(10):
                repo.create(_new(T0, "202612"), [])
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    numbers = sorted(c.case_no for c in repo.search(CaseFilter(), limit=100))
    assert numbers == [f"202612-{n:04d}" for n in range(1, 41)]


# --- the use cases over the real store and ledger ------------------------------------------


@pytest.fixture
def rt(web_runtime: Runtime) -> Runtime:
    return web_runtime


def test_open_from_a_call_takes_its_agent_links_it_and_books_the_complainant_callback(
    rt: Runtime, calls: CallBuilder
) -> None:
    uid = calls.call(T0 - timedelta(minutes=5), caller="13800000009", agent="chen", wait=3, talk=60)
    svc = case_parts(rt).service
    opened = svc.open("", "broken heater", "minor", by="chen", call_uid=uid)
    case = opened.case
    assert case.case_no == "202611-0001"
    assert (case.owner, case.number, case.calls) == ("chen", "+8613800000009", (uid,))
    assert case.deadline == T0 + timedelta(hours=72)
    assert case.state is CaseState.OPEN and case.escalation is Escalation.NONE
    [cb] = opened.callbacks
    assert cb.matter == "complaint:202611-0001" and cb.number == "+8613800000009"
    assert cb.state is CallbackState.SCHEDULED and cb.deadline == case.deadline
    ledger = callback_parts(rt).repo.get(cb.id)
    assert ledger is not None and ledger.deadline == T0 + timedelta(hours=72)
    actions = [e.action for e in svc.store.events(case.case_no)]
    assert actions == ["opened", "linked", "callback"]
    assert svc.store.by_call(uid) == svc.get(case.case_no)


def test_a_major_case_is_escalated_at_once_and_due_in_24_hours(rt: Runtime) -> None:
    svc = case_parts(rt).service
    case = svc.open("+8613800000003", "gas smell ignored twice", "major", by="lead").case
    assert case.escalation is Escalation.LEAD
    assert case.deadline == T0 + timedelta(hours=24)
    events = svc.store.events(case.case_no)
    assert [(e.action, e.who) for e in events][:2] == [("opened", "lead"), ("escalated", "lead")]


def test_month_rollover_restarts_the_serial(rt: Runtime) -> None:
    clock = cast(FixedClock, rt.clock)
    svc = case_parts(rt).service
    clock.at = datetime(2026, 11, 30, 23, 59, tzinfo=SH)
    assert svc.open("+8613800000003", "a", "minor", by="x").case.case_no == "202611-0001"
    clock.at = datetime(2026, 12, 1, 0, 1, tzinfo=SH)
    assert svc.open("+8613800000003", "b", "minor", by="x").case.case_no == "202612-0001"
    assert svc.open("+8613800000004", "c", "minor", by="x").case.case_no == "202612-0002"


def test_visitor_next_day_and_contract_series_go_to_the_ledger(rt: Runtime) -> None:
    svc = case_parts(rt).service
    opened = svc.open(
        "+8613800000005",
        "room keys",
        "minor",
        CaseKind.REQUEST,
        by="chen",
        visitor=True,
        contract_start=date(2026, 1, 10),
    )
    matters = [c.matter for c in opened.callbacks]
    no = opened.case.case_no
    assert matters[0] == f"visitor:{no}"
    series = [m.split("/")[1] for m in matters[1:]]
    # Monthly until the first anniversary, quarterly after it, to 24 months from the start.
    assert series == [
        "2026-12-10", "2027-01-10", "2027-04-10", "2027-07-10", "2027-10-10", "2028-01-10",
    ]  # fmt: skip
    visitor = opened.callbacks[0]
    assert visitor.due_at is not None and visitor.due_at.astimezone(SH).date() == date(2026, 11, 24)
    contract = opened.callbacks[1]
    assert contract.due_at is not None and contract.due_at.astimezone(SH).date() == date(
        2026, 12, 10
    )
    assert opened.case.deadline == datetime(2026, 11, 27, 0, 0, tzinfo=SH)  # 3 working days


def test_state_changes_and_refusals_are_recorded_with_who(rt: Runtime) -> None:
    svc = case_parts(rt).service
    no = svc.open("+8613800000006", "late delivery", "important", by="chen").case.case_no
    assert svc.update(no, by="chen", state=CaseState.IN_PROGRESS).state is CaseState.IN_PROGRESS
    with pytest.raises(CaseTransitionError):
        svc.update(no, by="chen", state=CaseState.REOPENED)
    svc.update(no, by="chen", note="called the depot")
    svc.update(no, by="lead", owner="zhang")
    resolved = svc.update(no, by="zhang", state=CaseState.RESOLVED)
    assert resolved.done_at == T0
    closed = svc.close(no, by="lead")
    assert closed.state is CaseState.CLOSED
    events = [(e.action, e.who, e.from_state, e.to_state) for e in svc.store.events(no)]
    assert events[-6:] == [
        ("state", "chen", "open", "in_progress"),
        ("note", "chen", None, None),
        ("owner", "lead", None, None),
        ("state", "zhang", "in_progress", "resolved"),
        ("state", "lead", "resolved", "closed"),
        ("callback_cancelled", "lead", None, None),  # its complaint callback, still open
    ]


def test_not_resolved_reopens_a_closed_case_and_escalates_an_active_one(
    rt: Runtime, calls: CallBuilder
) -> None:
    svc = case_parts(rt).service
    uid = calls.call(T0 - timedelta(minutes=5), agent="chen", wait=3, talk=30)
    no = svc.open("", "bill wrong", "minor", by="chen", call_uid=uid).case.case_no
    assert svc.not_resolved("no-such-call") is None
    escalated = svc.not_resolved(uid)
    assert escalated is not None and escalated.escalation is Escalation.LEAD
    svc.close(no, by="chen")
    reopened = svc.not_resolved(uid)
    assert reopened is not None and reopened.state is CaseState.REOPENED
    assert reopened.done_at is None
    last = svc.store.events(no)[-1]
    assert (last.who, last.to_state) == ("survey", "reopened") and uid in last.detail


def test_the_sweep_walks_the_ladder_once(rt: Runtime) -> None:
    clock = cast(FixedClock, rt.clock)
    svc = case_parts(rt).service
    no = svc.open("+8613800000007", "leak", "minor", by="chen").case.case_no  # 72 h
    assert svc.sweep() == []
    clock.advance(hours=36)
    assert svc.sweep() == [(no, Escalation.LEAD)]
    assert svc.sweep() == []
    clock.advance(hours=36)
    assert svc.sweep() == [(no, Escalation.MANAGER)]
    assert svc.sweep() == []
    assert svc.get(no).escalation is Escalation.MANAGER
    escalations = [e.detail for e in svc.store.events(no) if e.action == "escalated"]
    assert escalations == ["lead: 50% of the time used", "manager: overdue"]


def test_hostile_input_is_refused_by_item(rt: Runtime) -> None:
    svc = case_parts(rt).service
    bad = CaseInput.BAD_NUMBER
    classes = ", ".join(rt.config.cases.rules.classes)
    terms = ", ".join(rt.config.cases.rules.terms)
    cases = [  # every refusal of the use case: the item, the code, the English reason
        ({"number": "not a number"}, "number", bad, "only digits, '+' and separators are allowed"),
        ({"number": "1" * 300}, "number", bad, "longer than 64 characters"),
        ({"number": ""}, "number", CaseInput.MISSING, "missing"),
        ({"case_class": "catastrophic"}, "class", CaseInput.NOT_ONE_OF, f"one of {classes}"),
        ({"matter": ""}, "matter", CaseInput.MISSING, "missing"),
        ({"matter": "x" * 201}, "matter", CaseInput.TOO_LONG, "201 characters: at most 200"),
        ({"matter": "a\0b"}, "matter", CaseInput.NUL, "contains a NUL character"),
        (
            {"matter": "a\u202eb"},
            "matter",
            CaseInput.CONTROL_CHARACTERS,
            "contains control characters",
        ),
        ({"matter": "a\nb"}, "matter", CaseInput.CONTROL_CHARACTERS, "contains control characters"),
        (
            {"matter": "a\ud800"},
            "matter",
            CaseInput.CONTROL_CHARACTERS,
            "contains control characters",
        ),
        (
            {"summary": "a\rb"},
            "summary",
            CaseInput.CONTROL_CHARACTERS,
            "contains control characters",
        ),
        (
            {"summary": "a\x1bb"},
            "summary",
            CaseInput.CONTROL_CHARACTERS,
            "contains control characters",
        ),
        ({"term": "someday"}, "term", CaseInput.NOT_ONE_OF, f"one of {terms}"),
        (
            {"call_uid": "no-such-call"},
            "call",
            CaseInput.UNKNOWN_CALL,
            "no call 'no-such-call' in the call log",
        ),
        ({"call_uid": "x" * 65}, "call", CaseInput.NOT_A_CALL_ID, "not a call id"),
        (  # today is 2026-11-23: a mistyped year
            {"contract_start": date(2027, 11, 25)},
            "contract_start",
            CaseInput.CONTRACT_AHEAD,
            "2027-11-25 is more than 366 days after today",
        ),
        (  # its 24 months are over: the series would book nothing
            {"contract_start": date(2024, 11, 23)},
            "contract_start",
            CaseInput.CONTRACT_OVER,
            "its callback series (24 months) ended on 2026-11-23",
        ),
    ]
    for change, item, code, reason in cases:
        args: dict[str, object] = {"number": "+8613800000008", "matter": "m", "case_class": "minor"}
        args.update(change)
        with pytest.raises(CaseInputError) as err:
            svc.open(by="x", **args)  # type: ignore[arg-type]
        assert (err.value.item, err.value.code, err.value.reason) == (item, code, reason), change
        assert str(err.value) == f"{item}: {reason}"
    with pytest.raises(CaseInputError) as err:
        svc.open("12", "m", "minor", by="x")
    assert isinstance(err.value.cause, NumberError)  # the web words the number's own code
    assert err.value.cause.code is NumberProblem.TOO_SHORT
    assert svc.store.search(CaseFilter()) == []


def test_a_contract_start_is_taken_up_to_a_year_ahead_and_while_its_series_lasts(
    rt: Runtime,
) -> None:
    svc = case_parts(rt).service

    def series(number: str, start: date) -> list[str]:
        opened = svc.open(number, "m", "minor", CaseKind.REQUEST, by="x", contract_start=start)
        return [c.matter.split("/")[1] for c in opened.callbacks]

    assert series("+8613800000009", date(2027, 11, 24))[0] == "2027-12-24"  # a month on
    assert series("+8613800000010", date(2024, 11, 24)) == ["2026-11-24"]  # its last day


def test_typed_text_is_checked_at_the_use_case_whatever_the_door(rt: Runtime) -> None:
    """A summary and a note keep their lines (a CR LF as a line feed); no text keeps a
    control, bidi or surrogate character; an update with one bad text changes nothing."""
    svc = case_parts(rt).service
    case = svc.open("+8613800000011", "m", "minor", by="x", summary="one\r\ntwo\tthree").case
    assert case.summary == "one\ntwo\tthree"
    before = svc.store.events(case.case_no)
    for bad in (
        {"note": "ok", "summary": "a\u202eb"},
        {"state": CaseState.IN_PROGRESS, "note": "a\x07b"},
    ):
        with pytest.raises(CaseInputError) as err:
            svc.update(case.case_no, by="x", **bad)  # type: ignore[arg-type]
        assert err.value.code is CaseInput.CONTROL_CHARACTERS
    assert svc.store.events(case.case_no) == before
    assert svc.get(case.case_no).state is case.state
    svc.update(case.case_no, by="x", note="line 1\nline 2")
    assert svc.store.events(case.case_no)[-1].detail == "line 1\nline 2"


def test_search_by_number_prefix_case_number_prefix_and_matter_word(rt: Runtime) -> None:
    svc = case_parts(rt).service
    a = svc.open("+8613800000021", "water leak in 12", "minor", by="x").case
    b = svc.open("+8613900000022", "noise_100%", "minor", by="x").case
    repo = svc.store
    assert isinstance(repo, CaseRepo)

    def found(**kw: object) -> list[str]:
        return sorted(c.case_no for c in repo.search(CaseFilter(**kw)))  # type: ignore[arg-type]

    assert found(number="+86138") == [a.case_no]
    assert found(number="+8613") == sorted([a.case_no, b.case_no])
    assert found(text="202611-0002") == [b.case_no]
    assert found(text="202611") == sorted([a.case_no, b.case_no])
    assert found(text="leak") == [a.case_no]
    assert found(text="_100%") == [b.case_no]  # LIKE wildcards are literal
    assert found(text="%") == [b.case_no]
    assert found(number="+87") == []


def test_the_surveys_not_resolved_key_reopens_the_calls_case_and_keeps_its_number(
    rt: Runtime, calls: CallBuilder
) -> None:
    from ivr.bootstrap import survey_parts
    from ivr.domain.survey import SurveyOutcome

    parts = case_parts(rt)
    uid = calls.call(T0 - timedelta(minutes=5), agent="chen", seat="seat2", wait=3, talk=30)
    no = parts.service.open("", "meter misread", "minor", by="chen", call_uid=uid).case.case_no
    parts.service.close(no, by="chen")
    surveys = survey_parts(rt, rt.calls, parts.service)
    session = surveys.start(uid, "enquiries", "seat2", "zh-CN")
    assert session is not None
    session.begin()
    session.on_input(rt.config.survey.not_resolved_key)
    assert session.result is not None
    assert session.result.outcome is SurveyOutcome.NOT_RESOLVED
    assert session.result.case_uid == no
    case = parts.service.get(no)
    assert case is not None and case.state is CaseState.REOPENED
    assert parts.service.store.events(no)[-1].who == "survey"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("matter", "complaint\u202e:x"),
        ("matter", "a\nb"),
        ("note", "a\rb"),
        ("note", "\ud800"),
        ("language", "zh\x00"),
        ("branch", "sales\x1b"),
    ],
)
def test_the_callback_intake_refuses_typed_text_it_may_not_hold(
    rt: Runtime, field: str, value: str
) -> None:
    """Whichever door a request comes in by (web, CLI, a case, the IVR), its texts are
    checked by the one rule (ivr.domain.text) before anything is stored."""
    intake = callback_parts(rt).intake
    args: dict[str, object] = {"matter": "cli", "note": "line 1\nline 2"}
    args[field] = value
    matter = args.pop("matter")
    with pytest.raises(ValueError, match=f"^{field}: may not contain the character U\\+"):
        intake.request("+8613800000031", matter, **args)  # type: ignore[arg-type]
    assert callback_parts(rt).repo.listing(states=list(CallbackState)) == []
