"""Words for the codes that the domain and the web's own modules return: staffing alarms,
away refusals, status changes, account errors, refused phone numbers and case input,
and the board script's labels.

The domain and the stores say *what* happened with a code and its numbers; this
module says it in the request's language (web/translations).
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext, lazy_gettext
from flask_babel.speaklater import LazyString

from ivr.app.cases import CaseInput, CaseInputError
from ivr.domain.metrics import Staffing, StaffingProblem
from ivr.phone import NumberError, NumberProblem
from web.presence import Outcome, PresenceError, Problem, StatusResult
from web.security import ROLE_WORDS
from web.store import MAX_USERNAME, MIN_PASSWORD, UserError, UserProblem

STATES: dict[str, LazyString] = {
    "available": lazy_gettext("available"),
    "ringing": lazy_gettext("ringing"),
    "on_call": lazy_gettext("on a call"),
    "wrap_up": lazy_gettext("wrap-up"),
    "away": lazy_gettext("away"),
    "signed_out": lazy_gettext("signed out"),
}

AWAY_REASONS: dict[str, LazyString] = {
    "break": lazy_gettext("break"),
    "meal": lazy_gettext("meal"),
    "training": lazy_gettext("training"),
    "meeting": lazy_gettext("meeting"),
    "other": lazy_gettext("other"),
    "unspecified": lazy_gettext("unspecified"),
}

ROLES: dict[str, LazyString] = ROLE_WORDS

PERIODS: dict[str, LazyString] = {
    "day": lazy_gettext("day"),
    "week": lazy_gettext("week"),
    "month": lazy_gettext("month"),
}

OUTCOMES: dict[str, LazyString] = {
    "in_progress": lazy_gettext("in progress"),
    "answered": lazy_gettext("answered"),
    "abandoned_in_menu": lazy_gettext("abandoned in menu"),
    "abandoned_waiting": lazy_gettext("abandoned waiting"),
    "voicemail": lazy_gettext("voicemail"),
    "callback_requested": lazy_gettext("callback requested"),
    "hung_up_by_system": lazy_gettext("hung up by the system"),
    "shed": lazy_gettext("turned away: lines busy"),
}

CALLBACK_STATES: dict[str, LazyString] = {
    "requested": lazy_gettext("requested"),
    "scheduled": lazy_gettext("scheduled"),
    "dialing": lazy_gettext("dialing"),
    "connected": lazy_gettext("connected"),
    "completed": lazy_gettext("completed"),
    "retry": lazy_gettext("retry"),
    "failed": lazy_gettext("failed"),
    "expired": lazy_gettext("expired"),
    "cancelled": lazy_gettext("cancelled"),
}


def word(table: dict[str, LazyString], key: str | None) -> str:
    """The translated word for `key`, or the key itself when the table has none."""
    if not key:
        return ""
    return str(table[key]) if key in table else key


def state(key: str | None) -> str:
    return word(STATES, key)


def reason(key: str | None) -> str:
    return word(AWAY_REASONS, key)


def staffing(p: StaffingProblem) -> str:
    """A staffing alarm or away refusal in the request's language."""
    if p.code is Staffing.BELOW_MINIMUM:
        return gettext(
            "Staffing below minimum: %(count)s ordinary seats present, %(limit)s required",
            count=p.count,
            limit=p.limit,
        )
    if p.code is Staffing.TOO_MANY_AWAY:
        return gettext(
            "%(count)s seats away, at most %(limit)s allowed", count=p.count, limit=p.limit
        )
    if p.code is Staffing.AWAY_LIMIT:
        return gettext("at most %(limit)s seats may be away at once", limit=p.limit)
    return gettext(
        "staffing would fall to %(count)s ordinary seats, minimum %(limit)s",
        count=p.count,
        limit=p.limit,
    )


def why(d: dict[str, Any]) -> str:
    """The refusal of an away request as the board snapshot carries it ({code, count, limit})."""
    if d.get("code") is None:
        return str(d.get("text", ""))
    return staffing(StaffingProblem(Staffing(d["code"]), int(d["count"]), int(d["limit"])))


def status(r: StatusResult) -> str:
    """What a status change did, in the request's language."""
    why = staffing(r.problem) if r.problem is not None else ""
    o = r.outcome
    if o is Outcome.SIGNED_IN:
        return gettext("Signed in.")
    if o is Outcome.SIGNED_OUT:
        return gettext("Signed out.")
    if o is Outcome.STATUS_SET:
        return gettext("Status: %(state)s.", state=state(r.subject))
    if o is Outcome.AWAY:
        return gettext("Away (%(reason)s).", reason=reason(r.subject))
    if o is Outcome.REFUSED:
        return gettext("Refused: %(why)s.", why=why)
    if o is Outcome.WAITING:
        return gettext("Waiting for the lead's approval: %(why)s.", why=why)
    if o is Outcome.APPROVED:
        return gettext("Request of %(agent)s approved.", agent=r.subject)
    return gettext("Request of %(agent)s refused.", agent=r.subject)


def presence_error(e: PresenceError) -> str:
    c, subject = e.code, e.subject
    if c is Problem.NOT_AN_AGENT:
        return gettext("User %(user)s is not an agent of the roster.", user=subject)
    if c is Problem.UNKNOWN_EVENT:
        return gettext("Unknown attendance event %(event)s.", event=repr(subject))
    if c is Problem.UNKNOWN_STATUS:
        return gettext("Unknown status %(state)s.", state=repr(subject))
    if c is Problem.SIGNED_OUT:
        return gettext("Sign in first.")
    if c is Problem.UNKNOWN_REASON:
        return gettext("Unknown away reason %(reason)s.", reason=repr(subject))
    return gettext("No pending away request %(id)s.", id=subject)


def user_error(e: UserError) -> str:
    c, name = e.code, repr(e.username)
    if c is UserProblem.BAD_ROLE:
        return gettext("Unknown role for user %(user)s.", user=name)
    if c is UserProblem.AGENT_NEEDS_ID:
        return gettext("User %(user)s: an agent account needs an agent.", user=name)
    if c is UserProblem.SHORT_PASSWORD:
        return gettext(
            "User %(user)s: the password needs at least %(n)s characters.",
            user=name,
            n=MIN_PASSWORD,
        )
    if c is UserProblem.BAD_PASSWORD:
        return gettext("User %(user)s: the password is not valid text.", user=name)
    if c is UserProblem.BAD_USERNAME:
        return gettext(
            "The user name %(user)s is not valid: letters a-z, digits and . _ @ -, "
            "starting with a letter or digit, at most %(n)s characters.",
            user=name,
            n=MAX_USERNAME,
        )
    return gettext("User %(user)s already exists.", user=name)


def number_error(e: NumberError) -> str:
    """Why a text is no phone number (ivr.phone), as the reason of a parameter."""
    c, n = e.code, e.limit
    if c is NumberProblem.EMPTY:
        return gettext("empty")
    if c is NumberProblem.TOO_MANY_CHARS:
        return gettext("longer than %(n)s characters", n=n)
    if c is NumberProblem.NOT_DIGITS:
        return gettext("only digits, '+' and separators are allowed")
    if c is NumberProblem.NO_REGION:
        return gettext("no country code, and the hotline has no region")
    if c is NumberProblem.UNKNOWN_COUNTRY:
        return gettext("unknown country code")
    if c is NumberProblem.TOO_SHORT_AFTER_IDD:
        return gettext("too short after the international prefix")
    if c is NumberProblem.TOO_SHORT:
        return gettext("too short")
    if c is NumberProblem.TOO_LONG:
        return gettext("too long")
    if c is NumberProblem.INVALID_LENGTH:
        return gettext("not a possible length for its country")
    if c is NumberProblem.LOCAL_ONLY:
        return gettext("a local number without its area code")
    if c is NumberProblem.NOT_POSSIBLE:
        return gettext("not a possible number")
    if c is NumberProblem.NO_ROUND_TRIP:
        return gettext("no E.164 form that reads back as the same number")
    if c is NumberProblem.NO_DIGITS:
        return gettext("no digits")
    if c is NumberProblem.TOO_MANY_DIGITS:
        return gettext("more than %(n)s digits", n=n)
    return gettext("not a phone number")  # NOT_A_NUMBER


def case_input(e: CaseInputError) -> str:
    """Why the cases' (or visitor files') use cases refused a value, as the reason of the
    parameter `e.item`."""
    c = e.code
    if c is CaseInput.MISSING:
        return gettext("is required")
    if c is CaseInput.NOT_A_CALL_ID:
        return gettext("is not a call id")
    if c is CaseInput.UNKNOWN_CALL:
        return gettext("no call %(uid)s in the call log", uid=repr(e.subject[:64]))
    if c is CaseInput.NOT_ONE_OF:
        return gettext("must be one of %(allowed)s", allowed=", ".join(e.choices))
    if c is CaseInput.TOO_LONG:
        return gettext("%(count)s characters: at most %(n)s", count=e.count, n=e.limit)
    if c is CaseInput.NUL:
        return gettext("may not contain the character %(ch)s", ch="U+0000")
    if c is CaseInput.BAD_NUMBER:
        if isinstance(e.cause, NumberError):
            return number_error(e.cause)
        return gettext("not a phone number")
    if c is CaseInput.CONTROL_CHARACTERS:
        return gettext("contains control characters")
    if c is CaseInput.AFTER_TODAY:
        return gettext("%(day)s is after today (%(today)s)", day=e.subject, today=e.day)
    if c is CaseInput.TOO_LONG_AGO:
        return gettext("more than %(n)s days ago", n=e.limit)
    if c is CaseInput.NOT_A_FILE_NO:
        return gettext("is not a visitor file number (YYYYMMDD-NNNN)")
    if c is CaseInput.CHECKED_OUT:
        return gettext("%(file)s checked out on %(day)s", file=e.subject, day=e.day)
    if c is CaseInput.CONTRACT_AHEAD:
        return gettext("%(day)s is more than %(n)s days after today", day=e.subject, n=e.limit)
    if c is CaseInput.CONTRACT_OVER:
        return gettext("its callback series (%(n)s months) ended on %(day)s", n=e.limit, day=e.day)
    return gettext("%(file)s is already checked out", file=e.subject)  # ALREADY_CHECKED_OUT


def board_labels() -> dict[str, Any]:
    """Everything board.js shows in words, in the request's language ({name}: a value)."""
    return {
        "states": {k: str(v) for k, v in STATES.items()},
        "reasons": {k: str(v) for k, v in AWAY_REASONS.items()},
        "alarms": {
            Staffing.BELOW_MINIMUM.value: gettext(
                "Staffing below minimum: {count} ordinary seats present, {limit} required"
            ),
            Staffing.TOO_MANY_AWAY.value: gettext("{count} seats away, at most {limit} allowed"),
            "away_too_long": gettext("{agent} away for more than {minutes} min"),
            "shedding": gettext(
                "Overload: {count} calls turned away (all lines busy) in the last {minutes} min"
            ),
        },
        "why": {
            Staffing.AWAY_LIMIT.value: gettext("at most {limit} seats may be away at once"),
            Staffing.WOULD_UNDERSTAFF.value: gettext(
                "staffing would fall to {count} ordinary seats, minimum {limit}"
            ),
        },
        "on_shift": gettext("on shift"),
        "off_shift": gettext("off shift"),
        "none_pending": gettext("None pending."),
        "asks_for": gettext("{agent} asks for {reason} ({why})"),
        "approve": gettext("Approve"),
        "refuse": gettext("Refuse"),
        "target": gettext("(target {level} in {seconds} s)"),
        "minimum": gettext("(min {required} ordinary)"),
        "live": gettext("live"),
        "reconnecting": gettext("reconnecting…"),
        "vip": gettext("VIP"),
        **case_live_labels(),
    }


def case_live_labels() -> dict[str, Any]:
    """The words of the case escalation ladder on the live pages (board.js, agent.js)."""
    return {
        "steps": {
            "none": gettext("none"),
            "lead": gettext("team lead"),
            "manager": gettext("manager"),
        },
        "urgency": {
            "on_track": gettext("on track"),
            "near": gettext("near deadline"),
            "overdue": gettext("overdue"),
            "done": gettext("done"),
        },
        "escalated": gettext(
            "Case {case_no} escalated to the {step} (owner {owner}, due {deadline})"
        ),
        "no_escalations": gettext("No escalations."),
        "nobody": gettext("nobody"),
    }
