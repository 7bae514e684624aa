"""The dialer's side of AMI, as pure functions: the Originate it sends and what
the events it receives mean. Sockets live in `worker.py`.

The outbound dialplan (config/asterisk/extensions_callbacks.conf) reports each
attempt with ``UserEvent(HotlineCallback, Attempt: <action id>, Status: ...)``
and keeps the last status in AstDB (``hotline_cb/<action id>``), so a dialer
that was down while a call ended still learns whether the customer was reached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from ivr.adapters.asterisk.agi import sanitise
from ivr.domain.routing import normalise_number

# Names shared with extensions_callbacks.conf (rendered from these values).
CONTEXT_CALLBACK_OUT: Final = "hotline-callback-out"  # the agent leg runs here once answered
CONTEXT_CALLBACK_CONNECTED: Final = "hotline-callback-connected"  # Gosub on customer answer
CONTEXT_CALLBACK_END: Final = "hotline-callback-end"  # hangup handler: reports the result
VAR_CB_ATTEMPT: Final = "HOTLINE_CB_ATTEMPT"
VAR_CB_NUMBER: Final = "HOTLINE_CB_NUMBER"
VAR_CB_RING: Final = "HOTLINE_CB_RING"
VAR_LANGUAGE: Final = "HOTLINE_LANG"
USEREVENT_CALLBACK: Final = "HotlineCallback"
ASTDB_FAMILY: Final = "hotline_cb"
ACTION_PREFIX: Final = "hotline-cb-"
STATUS_CONNECTED: Final = "CONNECTED"

_ACTION_RE = re.compile(r"hotline-cb-[0-9]+-[0-9]+")
_LANG_RE = re.compile(r"[^A-Za-z0-9_-]")
_WORD = re.compile(r"[^A-Za-z0-9_ -]")
MAX_WORD = 32  # DIALSTATUS, device states and reason codes are short words


def is_callback_action(action_id: str) -> bool:
    """Whether an ActionID / AccountCode is one of the dialer's attempts.

    >>> is_callback_action("hotline-cb-12-3"), is_callback_action("hotline-cb-12-3\\r\\nX")
    (True, False)
    >>> is_callback_action("hotline-cb-12-3\\n"), is_callback_action("hotline-cb-\\u0661-3")
    (False, False)
    """
    return bool(_ACTION_RE.fullmatch(action_id))


def _word(value: str) -> str:
    """An event's status word as the dialer keeps it: letters, digits, '_', '-' and
    spaces only, at most MAX_WORD of them (it is stored and logged).

    >>> _word("NOANSWER"), _word("BUSY\\x00\\r\\nAction: X" + "Y" * 99)
    ('NOANSWER', 'BUSYAction XYYYYYYYYYYYYYYYYYYYY')
    """
    return _WORD.sub("", value)[:MAX_WORD]


@dataclass(frozen=True)
class OriginateSpec:
    action_id: str
    seat: str
    number: str
    language: str
    branch: str
    agent_ring_seconds: int
    customer_ring_seconds: int


def originate_fields(spec: OriginateSpec) -> dict[str, str]:
    """The Originate action (agent first): ring the agent's seat; once answered the
    channel enters the outbound context, which dials the customer.

    `Async: true` always (panoramisk #90: without it Originate blocks and breaks
    the link). The ActionID is also the channels' AccountCode, so a restarted
    dialer finds its calls with CoreShowChannels.
    """
    if not is_callback_action(spec.action_id):
        raise ValueError(f"not a callback action id: {spec.action_id!r}")
    number = normalise_number(spec.number)
    language = _LANG_RE.sub("", spec.language)
    label = f"CB {language} {_LANG_RE.sub('', spec.branch)}".strip()
    variables = {
        VAR_CB_ATTEMPT: spec.action_id,
        VAR_CB_NUMBER: number,
        VAR_CB_RING: str(int(spec.customer_ring_seconds)),
        VAR_LANGUAGE: language,
    }
    return {
        "ActionID": spec.action_id,
        "Channel": f"PJSIP/{spec.seat}",
        "Context": CONTEXT_CALLBACK_OUT,
        "Exten": "s",
        "Priority": "1",
        "Timeout": str(int(spec.agent_ring_seconds) * 1000),
        "CallerID": f'"{label}" <{number}>',
        "Account": spec.action_id,
        "Async": "true",
        "Variable": ",".join(f"{k}={v}" for k, v in variables.items()),
    }


# --- events -------------------------------------------------------------------------


@dataclass(frozen=True)
class Connected:
    action_id: str


@dataclass(frozen=True)
class Ended:
    action_id: str
    dial_status: str


@dataclass(frozen=True)
class AgentLegFailed:
    action_id: str
    reason: str


@dataclass(frozen=True)
class DeviceState:
    seat: str
    state: str


DialerEvent = Connected | Ended | AgentLegFailed | DeviceState

# OriginateResponse Reason codes (Asterisk's AST_CONTROL_*) in words.
_REASONS = {"0": "failed", "1": "hung up", "3": "no answer", "5": "busy", "8": "congestion"}


def parse_event(name: str, keys: dict[str, str]) -> DialerEvent | None:
    """What one AMI event means for the dialer; None when it means nothing."""
    if name == "UserEvent" and keys.get("UserEvent") == USEREVENT_CALLBACK:
        action = keys.get("Attempt", "")
        status = _word(keys.get("Status", "")).strip().upper()
        if not is_callback_action(action) or not status:
            return None
        if status == STATUS_CONNECTED:
            return Connected(action)
        if status == "AGENT":
            return None
        return Ended(action, status)
    if name == "OriginateResponse":
        action = keys.get("ActionID", "")
        if is_callback_action(action) and keys.get("Response", "").lower() == "failure":
            reason = _word(keys.get("Reason", ""))
            return AgentLegFailed(action, f"agent leg {_REASONS.get(reason, 'failed')} ({reason})")
        return None
    if name == "DeviceStateChange":
        device = keys.get("Device", "")
        tech, _, seat = device.partition("/")
        if tech.upper() == "PJSIP" and seat:
            return DeviceState(sanitise(seat), _word(keys.get("State", "")))
    return None


def live_accounts(events: list[tuple[str, dict[str, str]]]) -> set[str]:
    """Callback attempts that still have a channel, from CoreShowChannel events."""
    return {
        keys.get("AccountCode", "")
        for name, keys in events
        if name == "CoreShowChannel" and is_callback_action(keys.get("AccountCode", ""))
    }
