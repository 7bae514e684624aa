"""Walk the IVR with scripted keys: the same session FastAGI runs, no telephony.

Used by `hotline simulate` and by tests; the answer is the route and its trace.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ivr.app.ivr_session import CallerInfo, IvrDeps, IvrSession
from ivr.app.ports import NullCallLog, StaticPresence
from ivr.domain.menu import Ask, Menu
from ivr.domain.routing import RoutingPolicy
from ivr.domain.shifts import Roster


class _History:
    def __init__(self, previous_agent: str | None) -> None:
        self._agent = previous_agent

    def previous_agent(self, caller: str, since: datetime) -> str | None:
        return self._agent


def simulate(
    menu: Menu,
    roster: Roster,
    policy: RoutingPolicy,
    default_language: str,
    at: datetime,
    caller: str,
    keys: str,
    previous_agent: str | None = None,
) -> dict[str, Any]:
    """Run the IVR session with scripted keys at the instant `at`.

    Each character of `keys` answers one prompt; `T` is an explicit timeout;
    when the keys run out every further prompt times out.
    """
    deps = IvrDeps(
        menu=menu,
        roster=roster,
        policy=policy,
        default_language=default_language,
        log=NullCallLog(),
        history=_History(previous_agent),
        presence=StaticPresence(),
        clock=lambda: at,
    )
    session = IvrSession(deps, CallerInfo("simulated", caller, source="simulate"))
    pending = list(keys)
    prompts: list[list[str]] = []
    action = session.begin()
    while isinstance(action, Ask):
        prompts.append(list(action.prompts))
        key = pending.pop(0) if pending else "T"
        action = session.on_input(None if key.upper() == "T" else key)
    d = session.decide()
    return {
        "at": at.isoformat(),
        "caller": caller,
        "keys": keys,
        "route": {"kind": d.route.kind.value, "target": d.route.target},
        "branch": d.branch,
        "priority": d.priority,
        "vip": d.vip,
        "language": session.language,
        "queue": d.queue,
        "overflow": d.overflow.value,
        "prompts": prompts,
        "trace": session.trace + list(d.trace),
    }
