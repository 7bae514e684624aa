"""Call-log events: what happened to a call, as plain data.

Every process (FastAGI server, AGI scripts, AMI listener) describes a call by
emitting these events; the database adapter applies them. Applying the same
event twice must leave the same record (events carry the call's uid and, for
steps, a sequence number), so a spooled event can be replayed after a database
outage without duplicating anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Outcome(StrEnum):
    IN_PROGRESS = "in_progress"
    ANSWERED = "answered"
    ABANDONED_IN_MENU = "abandoned_in_menu"
    ABANDONED_WAITING = "abandoned_waiting"
    VOICEMAIL = "voicemail"
    CALLBACK_REQUESTED = "callback_requested"
    HUNG_UP_BY_SYSTEM = "hung_up_by_system"
    SHED = "shed"  # over the admission limit: told the lines are busy, not served


SOURCE_AMI = "ami"
"""The source of a CallStarted read off the AMI Hangup: the IVR never saw the call
(the caller left during Answer, or before the AGI began). It is the weaker start:
it fills an empty record, and a CallStarted of any other source replaces it,
whichever lands first."""

SOURCE_TWILIO = "twilio"
"""The start recorded by Twilio's voice webhook (the IVR ran through TwiML)."""

SOURCE_TWILIO_STATUS = "twilio_status"
"""The start read off a Twilio status callback (its Timestamp less CallDuration): as weak
as the AMI's, it gives way to the voice webhook's in either order."""

WEAK_SOURCES = frozenset({SOURCE_AMI, SOURCE_TWILIO_STATUS})
"""Starts that fill an empty record and give way to any other source."""

TWILIO_SOURCES = (SOURCE_TWILIO, SOURCE_TWILIO_STATUS)
"""Calls that came through Twilio: their end is Twilio's to report, not Asterisk's."""


@dataclass(frozen=True)
class CallStarted:
    uid: str
    at: datetime
    caller: str
    caller_name: str = ""
    dialed: str = ""
    channel: str = ""
    source: str = "fastagi"  # fastagi | agi | fallback | twilio | ami, twilio_status (weak)


@dataclass(frozen=True)
class MenuStep:
    uid: str
    seq: int
    at: datetime
    node: str
    event: str  # prompt | key | timeout | invalid | repeat | language
    key: str = ""
    detail: str = ""
    input: str = ""  # key | speech: what chose (or failed to choose) at this step
    phrase: str = ""  # speech: the phrase the recogniser heard
    confidence: float | None = None  # speech: its confidence, 0-1


@dataclass(frozen=True)
class Routed:
    uid: str
    at: datetime
    branch: str
    kind: str  # seat | queue | voicemail | callback | emergency | hangup
    target: str
    priority: int = 0
    vip: bool = False
    language: str = ""
    trace: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class CallAnswered:
    uid: str
    at: datetime
    seat: str
    agent_id: str = ""


@dataclass(frozen=True)
class CallEnded:
    uid: str
    at: datetime
    hangup_cause: str = ""
    # When None the adapter derives the outcome from what it knows of the call
    # (answered? routed? to what?) with `derive_outcome`.
    outcome: Outcome | None = None


CallEvent = CallStarted | MenuStep | Routed | CallAnswered | CallEnded


def derive_outcome(*, answered: bool, route_kind: str | None) -> Outcome:
    """The outcome of a call that has ended, from what is known about it.

    >>> derive_outcome(answered=False, route_kind=None)
    <Outcome.ABANDONED_IN_MENU: 'abandoned_in_menu'>
    """
    if answered:
        return Outcome.ANSWERED
    if route_kind is None:
        return Outcome.ABANDONED_IN_MENU
    if route_kind == "voicemail":
        return Outcome.VOICEMAIL
    if route_kind == "callback":
        return Outcome.CALLBACK_REQUESTED
    if route_kind == "hangup":
        return Outcome.HUNG_UP_BY_SYSTEM
    return Outcome.ABANDONED_WAITING
