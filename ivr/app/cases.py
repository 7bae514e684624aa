"""Cases as use cases: open (from a call, the IVR, the CLI or the web), update, close,
the escalation sweep, and the survey's "not resolved" hook.

Each use case reads as its steps: the domain decides (number month, deadline,
escalation), the store (`CaseStore`, the database) keeps the record and an event
for every change, and the callback ledger gets the callbacks that follow from
the case, with the case's number in their matter ("complaint:202612-0001").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from ivr.app.callbacks import Added, CallbackRefusedError
from ivr.app.ports import Clock
from ivr.domain.calendar import Calendar
from ivr.domain.callbacks import CallbackRequest, add_months
from ivr.domain.cases import (
    ACTIVE_STATES,
    Case,
    CaseError,
    CaseEvent,
    CaseKind,
    CaseRules,
    CaseState,
    Escalation,
    Term,
    case_month,
    contract_series,
    deadline_for,
    escalation_at,
    escalation_steps,
    higher,
)
from ivr.domain.routing import normalise_number
from ivr.domain.text import MULTILINE, bad_character, one_line_feed

MAX_MATTER = 200
MAX_TEXT = 4000
MAX_CONTRACT_AHEAD_DAYS = 366  # a contract starting later than that is a mistyped year
SYSTEM = "system"


class CaseInput(StrEnum):
    """Why a value given to the cases' (or visitor files') use cases was refused. The
    web words the code with its values in the request's language (web/messages.py);
    `CaseInputError.reason` is the English text of the CLI and the logs."""

    MISSING = "missing"
    NOT_A_CALL_ID = "not_a_call_id"
    UNKNOWN_CALL = "unknown_call"  # subject: the call id
    NOT_ONE_OF = "not_one_of"  # choices
    TOO_LONG = "too_long"  # count (characters given), limit
    NUL = "nul"
    BAD_NUMBER = "bad_number"  # cause: what `canonical` raised (ivr.phone.NumberError)
    # visitor files (ivr.app.visitors)
    CONTROL_CHARACTERS = "control_characters"
    AFTER_TODAY = "after_today"  # subject: the day given, day: today
    TOO_LONG_AGO = "too_long_ago"  # limit: days
    NOT_A_FILE_NO = "not_a_file_no"  # cause: the VisitorNumberError
    CHECKED_OUT = "checked_out"  # subject: the file number, day: its check-out
    ALREADY_CHECKED_OUT = "already_checked_out"  # subject: the file number
    # a contract's start (the contract callback series)
    CONTRACT_AHEAD = "contract_ahead"  # subject: the day given, limit: days after today
    CONTRACT_OVER = "contract_over"  # day: the series' last day, limit: its months


class CaseInputError(CaseError, ValueError):
    """A value a caller of the use case gave is out of its range: `item` names it, `code`
    and the values (`subject`, `count`, `limit`, `choices`, `day`, `cause`) say why,
    `reason` says it in English; str() is "item: reason"."""

    def __init__(
        self,
        item: str,
        code: CaseInput,
        *,
        subject: str = "",
        count: int | None = None,
        limit: int | None = None,
        choices: tuple[str, ...] = (),
        day: date | None = None,
        cause: Exception | None = None,
    ) -> None:
        self.item, self.code, self.subject = item, code, subject
        self.count, self.limit, self.choices = count, limit, choices
        self.day, self.cause = day, cause
        self.reason = self._english()
        super().__init__(f"{item}: {self.reason}")

    def _english(self) -> str:
        c = self.code
        if c is CaseInput.UNKNOWN_CALL:
            return f"no call {self.subject!r} in the call log"
        if c is CaseInput.NOT_ONE_OF:
            return f"one of {', '.join(self.choices)}"
        if c is CaseInput.TOO_LONG:
            return f"{self.count} characters: at most {self.limit}"
        if c in (CaseInput.BAD_NUMBER, CaseInput.NOT_A_FILE_NO):
            return getattr(self.cause, "reason", None) or str(self.cause)
        if c is CaseInput.AFTER_TODAY:
            return f"{self.subject} is after today ({self.day})"
        if c is CaseInput.TOO_LONG_AGO:
            return f"more than {self.limit} days ago"
        if c is CaseInput.CHECKED_OUT:
            return f"{self.subject} checked out on {self.day}"
        if c is CaseInput.ALREADY_CHECKED_OUT:
            return f"{self.subject} is already checked out"
        if c is CaseInput.CONTRACT_AHEAD:
            return f"{self.subject} is more than {self.limit} days after today"
        if c is CaseInput.CONTRACT_OVER:
            return f"its callback series ({self.limit} months) ended on {self.day}"
        return _PLAIN[c]


_PLAIN = {
    CaseInput.MISSING: "missing",
    CaseInput.NOT_A_CALL_ID: "not a call id",
    CaseInput.NUL: "contains a NUL character",
    CaseInput.CONTROL_CHARACTERS: "contains control characters",
}


class CaseNotFoundError(CaseError, LookupError):
    """No case with that number (or none linked to that call)."""


@dataclass(frozen=True)
class NewCase:
    month: str  # YYYYMM in the hotline's zone: the store gives the next serial in it
    kind: CaseKind
    case_class: str
    number: str
    matter: str
    owner: str
    branch: str
    term: str
    opened_at: datetime
    deadline: datetime
    opened_by: str
    summary: str
    escalation: Escalation
    call_uid: str | None


@dataclass(frozen=True)
class CallInfo:
    """What the call log knows of a call a case is opened from."""

    uid: str
    caller: str
    agent: str  # who answered ("" if nobody)
    branch: str


class CaseStore(Protocol):
    def create(self, new: NewCase, events: list[CaseEvent]) -> Case: ...
    def get(self, case_no: str) -> Case | None: ...
    def events(self, case_no: str) -> list[CaseEvent]: ...
    def change(
        self,
        case_no: str,
        event: CaseEvent,
        *,
        state: CaseState | None = None,
        escalation: Escalation | None = None,
        summary: str | None = None,
        owner: str | None = None,
        call_uid: str | None = None,
    ) -> Case: ...
    def by_call(self, uid: str) -> Case | None: ...
    def call_info(self, uid: str) -> CallInfo | None: ...
    def active_for(self, number: str) -> Case | None: ...
    def escalation_due(self, at: datetime, lead_share: float, limit: int) -> list[Case]: ...
    def escalate(self, case_no: str, step: Escalation, event: CaseEvent) -> Case | None: ...


class AfterHoursCases(Protocol):
    """The port the IVR's callback handler uses (`CaseService.open_after_hours`)."""

    def open_after_hours(
        self, number: str, call_uid: str, branch: str, language: str
    ) -> Opened | None: ...


class CaseCallbacks(Protocol):
    """The part of the callback intake cases use (`CallbackIntake.request`)."""

    def request(
        self,
        number: str,
        matter: str,
        *,
        source: str = "rule",
        due_at: datetime | None = None,
        event_at: datetime | None = None,
        contract_start: date | None = None,
        language: str = "",
        branch: str | None = None,
        note: str = "",
        deadline: datetime | None = None,
    ) -> Added: ...


@dataclass(frozen=True)
class FollowUps:
    """Which callbacks.yaml rules follow from a case (cases.yaml `callbacks`)."""

    complaint: str | None = "complaint"
    visitor: str | None = "visitor"
    contract: str | None = "contract"
    contract_horizon_months: int = 24


@dataclass(frozen=True)
class AfterHours:
    """The IVR's complaints key outside staffed hours opens a case (cases.yaml `ivr`)."""

    branch: str = "complaints"
    term: str = "departed"
    case_class: str = "important"
    matter: str = "IVR complaint (after hours)"


@dataclass(frozen=True)
class Opened:
    case: Case
    callbacks: tuple[CallbackRequest, ...]
    refused: tuple[str, ...] = ()  # callbacks the ledger refused, with the reason


@dataclass(frozen=True)
class CaseService:
    store: CaseStore
    rules: CaseRules
    calendar: Calendar
    clock: Clock
    callbacks: CaseCallbacks | None = None
    follow_ups: FollowUps = field(default_factory=FollowUps)
    after_hours: AfterHours = field(default_factory=AfterHours)
    # The canonical form of a number (E.164 for the site's region), raising ValueError.
    canonical: Callable[[str], str] = normalise_number

    # --- open -----------------------------------------------------------------------

    def open(
        self,
        number: str,
        matter: str,
        case_class: str,
        kind: CaseKind = CaseKind.COMPLAINT,
        *,
        by: str,
        call_uid: str | None = None,
        owner: str | None = None,
        branch: str | None = None,
        term: str | None = None,
        summary: str = "",
        visitor: bool = False,
        contract_start: date | None = None,
        language: str = "",
        call_logged: bool = True,
    ) -> Opened:
        """Open a case: number, deadline, owner (the first-contact agent: given, else who
        answered the call), the immediate escalation of a major class, the callbacks.
        `call_logged=False` links a call the call log may not hold yet (the IVR's own)."""
        now = self.clock()
        info = self._call(call_uid, call_logged)
        n = self._number(number or (info.caller if info else ""))
        cls = self._class(case_class)
        t = self._term(kind, cls, term)
        if contract_start is not None:
            self._contract(contract_start, now)
        matter = _text("matter", matter, MAX_MATTER, required=True)
        summary = _text("summary", summary, MAX_TEXT, lines=True)
        who = owner if owner is not None else (info.agent if info else "")
        deadline = deadline_for(t, now, self.calendar)
        at_once = self.rules.classes[cls].escalate_at_once
        escalation = Escalation.LEAD if at_once else Escalation.NONE
        events = [CaseEvent(now, by, "opened", None, CaseState.OPEN.value, f"{t} ({t.name})")]
        if at_once:
            events.append(CaseEvent(now, by, "escalated", None, None, f"lead: class {cls}"))
        if call_uid:
            events.append(CaseEvent(now, by, "linked", None, None, call_uid))
        case = self.store.create(
            NewCase(
                month=case_month(now, self.calendar),
                kind=kind,
                case_class=cls,
                number=n,
                matter=matter,
                owner=who or "",
                branch=branch if branch is not None else (info.branch if info else ""),
                term=t.name,
                opened_at=now,
                deadline=deadline,
                opened_by=by,
                summary=summary,
                escalation=escalation,
                call_uid=call_uid or None,
            ),
            events,
        )
        made, refused = self._follow_ups(case, visitor, contract_start, language, by)
        return Opened(self.store.get(case.case_no) or case, tuple(made), tuple(refused))

    def _contract(self, start: date, now: datetime) -> None:
        """A contract start the series can use: not more than a year ahead (a mistyped
        year), and not so long ago that its series is over (nothing would be booked)."""
        today = self.calendar.local(now).date()
        if start > today + timedelta(days=MAX_CONTRACT_AHEAD_DAYS):
            raise CaseInputError(
                "contract_start",
                CaseInput.CONTRACT_AHEAD,
                subject=start.isoformat(),
                limit=MAX_CONTRACT_AHEAD_DAYS,
            )
        months = self.follow_ups.contract_horizon_months
        end = add_months(start, months)
        if end <= today:
            raise CaseInputError("contract_start", CaseInput.CONTRACT_OVER, day=end, limit=months)

    def _follow_ups(
        self, case: Case, visitor: bool, contract_start: date | None, language: str, by: str
    ) -> tuple[list[CallbackRequest], list[str]]:
        """The callbacks the case calls for, each recorded on the case as an event."""
        if self.callbacks is None:
            return [], []
        f, cb = self.follow_ups, self.callbacks
        asks: list[tuple[str, dict[str, object]]] = []
        if case.kind is CaseKind.COMPLAINT and f.complaint:
            asks.append((f"{f.complaint}:{case.case_no}", {"deadline": case.deadline}))
        if visitor and f.visitor:
            asks.append((f"{f.visitor}:{case.case_no}", {}))
        if contract_start is not None and f.contract:
            local = self.calendar.local(case.opened_at).date()
            for day in contract_series(contract_start, local, f.contract_horizon_months):
                asks.append(
                    (
                        f"{f.contract}:{case.case_no}/{day.isoformat()}",
                        {"contract_start": contract_start, "event_at": _eve(day, self.calendar)},
                    )
                )
        made: list[CallbackRequest] = []
        refused: list[str] = []
        for matter, extra in asks:
            try:
                added = cb.request(
                    case.number,
                    matter,
                    source="case",
                    language=language,
                    note=case.case_no,
                    **extra,  # type: ignore[arg-type]
                )
            except (CallbackRefusedError, ValueError) as e:
                refused.append(f"{matter}: {e}")
                self._event(
                    case.case_no, CaseEvent(self.clock(), by, "callback", detail=refused[-1])
                )
                continue
            r = added.request
            made.append(r)
            detail = f"#{r.id} {r.matter} due {r.due_at:%Y-%m-%d %H:%M}" if r.due_at else r.matter
            self._event(case.case_no, CaseEvent(self.clock(), by, "callback", detail=detail))
        return made, refused

    def open_after_hours(
        self, number: str, call_uid: str, branch: str, language: str
    ) -> Opened | None:
        """The complaints key outside staffed hours: a case with the after-hours term
        (72 h) and the complainant's callback, owned by nobody yet. None when the call
        is not for the complaints branch or the hotline is open."""
        a = self.after_hours
        if branch != a.branch or self.calendar.is_open(self.clock()):
            return None
        return self.open(
            number,
            a.matter,
            a.case_class,
            CaseKind.COMPLAINT,
            by="ivr",
            call_uid=call_uid or None,
            owner="",
            branch=branch,
            term=a.term,
            language=language,
            call_logged=False,  # the call-log writer batches: the call may not be there yet
        )

    # --- change ---------------------------------------------------------------------

    def update(
        self,
        case_no: str,
        *,
        by: str,
        state: CaseState | None = None,
        note: str | None = None,
        summary: str | None = None,
        owner: str | None = None,
        call_uid: str | None = None,
    ) -> Case:
        """Move a case, add a note, change its text or owner, or link a call: one event each.
        The texts are checked, and a call to link must be in the call log, before
        anything changes."""
        case = self.get(case_no)
        self._call(call_uid)
        if note is not None:
            note = _text("note", note, MAX_TEXT, lines=True)
        if summary is not None:
            summary = _text("summary", summary, MAX_TEXT, lines=True)
        now = self.clock()
        if state is not None and state is not case.state:
            case = self.store.change(
                case_no,
                CaseEvent(
                    now,
                    by,
                    "state",
                    case.state.value,
                    state.value,
                    note or "",
                ),
                state=state,
            )
            note = None
        if note:
            case = self.store.change(case_no, CaseEvent(now, by, "note", detail=note))
        if summary is not None:
            case = self.store.change(
                case_no,
                CaseEvent(now, by, "summary", detail=f"{len(summary)} characters"),
                summary=summary,
            )
        if owner is not None and owner != case.owner:
            case = self.store.change(
                case_no,
                CaseEvent(now, by, "owner", detail=f"{case.owner or '-'} -> {owner}"),
                owner=owner,
            )
        if call_uid:
            case = self.store.change(
                case_no, CaseEvent(now, by, "linked", detail=call_uid), call_uid=call_uid
            )
        return case

    def close(self, case_no: str, *, by: str, note: str = "") -> Case:
        """Close a case (from any state the machine allows: resolved first if it was open)."""
        case = self.get(case_no)
        return self.update(case.case_no, by=by, state=CaseState.CLOSED, note=note or "closed")

    def not_resolved(self, call_uid: str, *, by: str = "survey") -> Case | None:
        """The survey's "not resolved" key: the case linked to that call is reopened
        (when resolved or closed) or escalated one step (when still active). None
        when no case is linked to the call."""
        case = self.store.by_call(call_uid)
        if case is None:
            return None
        now = self.clock()
        detail = f"caller says not resolved (call {call_uid})"
        if case.state in (CaseState.RESOLVED, CaseState.CLOSED):
            return self.store.change(
                case.case_no,
                CaseEvent(now, by, "state", case.state.value, CaseState.REOPENED.value, detail),
                state=CaseState.REOPENED,
            )
        step = escalation_steps(case.escalation, Escalation.MANAGER)
        if not step:
            return self.store.change(case.case_no, CaseEvent(now, by, "note", detail=detail))
        return self.store.change(
            case.case_no,
            CaseEvent(now, by, "escalated", detail=f"{step[0].value}: {detail}"),
            escalation=step[0],
        )

    # --- the escalation sweep -------------------------------------------------------

    def sweep(self, limit: int = 500) -> list[tuple[str, Escalation]]:
        """Record the escalation steps now due (at a share of the deadline the lead,
        overdue the manager), each as an event exactly once however many sweeps run at
        the same time (the store records a step only over the one below it). Returns
        what this sweep escalated."""
        now = self.clock()
        done: list[tuple[str, Escalation]] = []
        for case in self.store.escalation_due(now, self.rules.lead_share, limit):
            if case.state not in ACTIVE_STATES:
                continue
            due = escalation_at(case.opened_at, case.deadline, now, self.rules.lead_share)
            for step in escalation_steps(case.escalation, higher(due, case.escalation)):
                why = (
                    "overdue"
                    if step is Escalation.MANAGER
                    else f"{self.rules.lead_share:.0%} of the time used"
                )
                event = CaseEvent(now, SYSTEM, "escalated", detail=f"{step.value}: {why}")
                if self.store.escalate(case.case_no, step, event) is None:
                    break  # another sweep recorded it (or the case is done): once only
                done.append((case.case_no, step))
        return done

    # --- reads ------------------------------------------------------------------------

    def get(self, case_no: str) -> Case:
        case = self.store.get(case_no.strip())
        if case is None:
            raise CaseNotFoundError(f"no case {case_no[:20]!r}")
        return case

    def owner_for(self, number: str) -> Case | None:
        """The caller's active case, if any (first-contact ownership by matter)."""
        try:
            n = self.canonical(number)
        except ValueError:
            return None
        return self.store.active_for(n)

    # --- helpers ------------------------------------------------------------------------

    def _event(self, case_no: str, event: CaseEvent) -> None:
        self.store.change(case_no, event)

    def _call(self, uid: str | None, required: bool = True) -> CallInfo | None:
        if not uid:
            return None
        if len(uid) > 64 or not uid.isprintable():
            raise CaseInputError("call", CaseInput.NOT_A_CALL_ID)
        info = self.store.call_info(uid)
        if info is None and required:
            raise CaseInputError("call", CaseInput.UNKNOWN_CALL, subject=uid)
        return info

    def _number(self, number: str) -> str:
        if not number:
            raise CaseInputError("number", CaseInput.MISSING)
        try:
            return self.canonical(number)
        except ValueError as e:
            raise CaseInputError("number", CaseInput.BAD_NUMBER, cause=e) from None

    def _class(self, case_class: str) -> str:
        if case_class not in self.rules.classes:
            raise CaseInputError("class", CaseInput.NOT_ONE_OF, choices=tuple(self.rules.classes))
        return case_class

    def _term(self, kind: CaseKind, cls: str, term: str | None) -> Term:
        if term is not None and term not in self.rules.terms:
            raise CaseInputError("term", CaseInput.NOT_ONE_OF, choices=tuple(self.rules.terms))
        return self.rules.term_for(kind, cls, term)


def _text(item: str, value: str, most: int, required: bool = False, lines: bool = False) -> str:
    """Typed text as stored: stripped, at most `most` characters, none that typed text
    may not hold (ivr.domain.text; line feeds and tabs too with `lines`, a CR LF
    becoming a line feed), whichever door it came in by."""
    v = one_line_feed(value).strip() if lines else value.strip()
    if required and not v:
        raise CaseInputError(item, CaseInput.MISSING)
    if len(v) > most:
        raise CaseInputError(item, CaseInput.TOO_LONG, count=len(v), limit=most)
    if "\0" in v:
        raise CaseInputError(item, CaseInput.NUL)
    if bad_character(v, MULTILINE if lines else ""):
        raise CaseInputError(item, CaseInput.CONTROL_CHARACTERS)
    return v


def _eve(day: date, calendar: Calendar) -> datetime:
    """The instant just before `day` starts in the hotline's zone: the contract rule
    then schedules the callback on `day` itself."""
    return datetime.combine(day - timedelta(days=1), datetime.min.time(), tzinfo=calendar.tz)
