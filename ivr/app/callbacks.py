"""Callback requests as use cases: from the IVR, from service rules, from operators.

The IVR side (key 9, the overflow offer, a voicemail left when closed) calls
`CallbackRequests.request_from_ivr` and tells the caller when to expect the
call from the returned `CallbackPromise`. Service rules (visitor the day
after, complainant within 3 days, contract customers monthly then quarterly,
an agent's agreed reply time) go through `CallbackIntake.request`. Both end
in the ledger (`CallbackStore`), which refuses duplicates per number and matter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from ivr.app.ports import Clock
from ivr.domain.callbacks import (
    CallbackRequest,
    CallingRules,
    RetryPolicy,
    RuleKind,
    ServiceRule,
    callback_matter,
    callback_number,
    eligibility,
    next_allowed,
    schedule_for,
)
from ivr.domain.routing import normalise_number
from ivr.domain.text import MULTILINE, bad_character


class CallbackRefusedError(ValueError):
    """The number may not be called back (do-not-call list, no calling hours, not a number)."""


@dataclass(frozen=True)
class NewRequest:
    number: str
    matter: str
    source: str  # ivr | overflow | voicemail | abandoned | rule | agent | cli
    arrived_at: datetime  # when the customer first asked (the call's start): dial order
    due_at: datetime | None  # None: recorded but not yet schedulable (state requested)
    tz: str
    language: str = ""
    branch: str = ""
    deadline: datetime | None = None
    expires_at: datetime | None = None
    source_uid: str | None = None
    note: str = ""


@dataclass(frozen=True)
class Added:
    request: CallbackRequest
    created: bool  # False: an open request for this number and matter already existed


@dataclass(frozen=True)
class CallbackPromise:
    """What the IVR tells the caller: we will call `number` from `due_at` on."""

    id: int
    number: str
    due_at: datetime  # not before now; in the caller's time: due_at.astimezone(ZoneInfo(tz))
    tz: str
    created: bool


class CallbackStore(Protocol):
    def add(self, new: NewRequest, at: datetime) -> Added: ...


class CallbackRequests(Protocol):
    """The port the IVR handlers use."""

    def request_from_ivr(
        self,
        number: str,
        language: str,
        branch: str,
        arrived_at: datetime,
        matter: str | None = None,
        uid: str | None = None,
        source: str = "ivr",
    ) -> CallbackPromise: ...


@dataclass(frozen=True)
class CallbackIntake:
    """Turns requests into ledger entries with their due time, deadline and expiry."""

    store: CallbackStore
    rules: CallingRules
    retry: RetryPolicy
    service_rules: Mapping[str, ServiceRule]
    ivr_matter: str
    clock: Clock
    # The canonical form of a number, raising ValueError for one that is none; the
    # composition root gives E.164 for the site's region (ivr.phone.canonical).
    canonical: Callable[[str], str] = normalise_number

    def request_from_ivr(
        self,
        number: str,
        language: str,
        branch: str,
        arrived_at: datetime,
        matter: str | None = None,
        uid: str | None = None,
        source: str = "ivr",
    ) -> CallbackPromise:
        """A caller asked for a callback (key 9, overflow offer, voicemail, abandoned).

        `arrived_at` is when the call started: the request keeps that place in
        the dial order. Raises CallbackRefusedError when the number may not be
        called; the IVR then offers voicemail.
        """
        now = self.clock()
        n = self._number(number)
        tz = self.rules.customer_tz(n)
        # Due from the arrival, not from now: requests are dialled by (due, arrival), so
        # a caller who waited in the queue before asking keeps the place of the arrival.
        due = next_allowed(n, min(arrived_at, now), tz, self.rules)
        if due is None or self.rules.blocked(n):
            raise CallbackRefusedError(eligibility(n, now, tz, self.rules).reason)
        added = self.store.add(
            NewRequest(
                number=n,
                matter=matter or self.ivr_matter,
                source=source,
                arrived_at=arrived_at,
                due_at=due,
                tz=tz.key,
                language=language,
                branch=branch,
                expires_at=now + self.retry.expire_after,
                source_uid=uid or None,
            ),
            now,
        )
        r = added.request
        return CallbackPromise(r.id, r.number, max(r.due_at or due, now), r.tz, added.created)

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
    ) -> Added:
        """A request under the service rule its matter names ("complaint:202611-0001"),
        or at an explicit time (`due_at`: an agreed reply time, or an operator's).
        `deadline` (a case's) makes the rule's deadline earlier, never later."""
        for item, text, allowed in (
            ("matter", matter, ""),
            ("language", language, ""),
            ("branch", branch or "", ""),
            ("note", note, MULTILINE),
        ):
            if bad := bad_character(text, allowed):  # whichever door it came in by
                raise ValueError(f"{item}: may not contain the character {bad}")
        try:
            callback_matter(matter)  # ":" or "complaint:" named no rule or no reference
        except ValueError as e:
            raise ValueError(f"matter: {e}") from None
        now = self.clock()
        n = self._number(number)
        tz = self.rules.customer_tz(n)
        rule = self.service_rules.get(matter.split(":", 1)[0])
        event = event_at or now
        if rule is None:
            rule = ServiceRule("asap", RuleKind.AGREED if due_at else RuleKind.ASAP)
        if rule.kind is RuleKind.AGREED and due_at is None:
            raise ValueError(f"matter {matter!r}: rule {rule.name!r} needs an agreed time (--due)")
        if self.rules.blocked(n):
            raise CallbackRefusedError(f"{n} is on the do-not-call list")
        schedule = schedule_for(rule, event, n, tz, self.rules, due_at, contract_start)
        if schedule is None:
            raise CallbackRefusedError(eligibility(n, event, tz, self.rules).reason)
        due = due_at or schedule.due_at
        return self.store.add(
            NewRequest(
                number=n,
                matter=matter,
                source=source,
                arrived_at=event,
                due_at=due,
                tz=tz.key,
                language=language,
                branch=rule.branch if branch is None else branch,
                deadline=_earlier(schedule.deadline, deadline),
                expires_at=max(due, now) + self.retry.expire_after,
                note=note,
            ),
            now,
        )

    def _number(self, number: str) -> str:
        """The number in canonical form (E.164 with the site's region), with the
        structure of a callback number; refused with a reason that never repeats it."""
        try:
            return callback_number(self.canonical(number))
        except ValueError as e:
            reason = getattr(e, "reason", None) or str(e)
            raise CallbackRefusedError(f"not a callback number: {reason}") from None


def _earlier(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)
