"""The call's state between two webhooks, carried in the signed action URL.

Twilio keeps no state for us; each TwiML document names the next URL, and the
state rides in its query as an itsdangerous token (HMAC-SHA1 over compact JSON,
timestamped). A token that was altered, is too old or belongs to another
CallSid is refused; a token replayed after its step is refused by the caller of
`load` (voice.py compares its step number with the call log's).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from itsdangerous import BadData, URLSafeTimedSerializer

SALT: Final = "hotline-twilio-state"
MAX_AGE_SECONDS: Final = 6 * 3600  # a menu lasts minutes; a dial's result may come hours later
MAX_TOKEN_CHARS: Final = 3000  # Twilio's URLs stay well under 4 kB
MAX_TRACE: Final = 24  # trace lines kept between webhooks (the newest)
PHASES: Final = frozenset({"menu", "seat", "queue", "callback", "end"})
_TOKEN: Final = re.compile(r"[A-Za-z0-9_.=-]{1,3000}")


class StateError(ValueError):
    """A state token that is not ours, was altered, is too old or does not fit the call."""


@dataclass(frozen=True)
class CallState:
    uid: str  # the CallSid
    caller: str
    dialed: str
    language: str
    phase: str = "menu"  # menu | seat | queue | callback | end
    flow: Mapping[str, Any] = field(default_factory=dict)  # the menu's FlowState, as fields
    seq: int = 0  # menu steps recorded so far
    started: float = 0.0  # epoch seconds
    trace: tuple[str, ...] = field(default_factory=tuple)
    branch: str = ""
    queue: str = ""
    target: str = ""
    max_wait: int = 0
    routed: float = 0.0  # epoch seconds of the decision this dial belongs to


class StateSigner:
    def __init__(self, secret: str, max_age: int = MAX_AGE_SECONDS) -> None:
        self._s = URLSafeTimedSerializer(secret, salt=SALT)
        self._max_age = max_age

    def dump(self, state: CallState) -> str:
        data = asdict(state)
        data["trace"] = list(state.trace[-MAX_TRACE:])
        return str(self._s.dumps(data))

    def load(self, token: str, uid: str) -> CallState:
        if not _TOKEN.fullmatch(token or ""):
            raise StateError("state missing or not a token")
        try:
            data = self._s.loads(token, max_age=self._max_age)
        except BadData as e:
            raise StateError(f"state refused: {type(e).__name__}") from None
        state = _from_dict(data)
        if state.uid != uid:
            raise StateError("state belongs to another call")
        return state


def _from_dict(data: Any) -> CallState:
    """Our own signed data; still checked, so a key change cannot become a 500."""
    try:
        state = CallState(**{**data, "trace": tuple(str(t) for t in data["trace"])})
        if not isinstance(state.flow, dict):
            raise TypeError("flow is not a mapping")
    except (TypeError, KeyError) as e:
        raise StateError(f"state of an unknown form: {e}") from None
    if state.phase not in PHASES:
        raise StateError(f"unknown phase {state.phase!r}")
    return state
