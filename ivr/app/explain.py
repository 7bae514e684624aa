"""Who answers at an instant, and where every menu key goes then, with reasons.

Used by `hotline config explain --at ISO`. Nothing is derived here: each key is
walked with `simulate` (the IVR session FastAGI runs), the branches' reach comes
from `lookahead.coverage_gaps` and `routing.decide` at that instant (so a branch's
rules count: a night rota reaches a person in closed hours), the people on call
from every named rota, and the hours from the calendar.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime
from typing import Any

from ivr.app.simulate import simulate
from ivr.domain.lookahead import coverage_gaps
from ivr.domain.menu import Menu, TargetKind
from ivr.domain.routing import (
    WAITING_ROUTE_KINDS,
    CallContext,
    Presence,
    RouteKind,
    RoutingPolicy,
    decide,
)
from ivr.domain.shifts import Agent, Roster

# The caller assumed: a number shown (so a callback can reach it) and on no VIP list.
SHOWN_CALLER = "+0000000000"
NO_KEY = "none"  # the row of a node for a caller who presses nothing (or only wrong keys)


def explain(
    menu: Menu,
    roster: Roster,
    policy: RoutingPolicy,
    languages: tuple[str, ...],
    at: datetime,
    caller: str = SHOWN_CALLER,
) -> dict[str, Any]:
    """The hours, the people on duty and on call (each with the rota), each branch's
    reach and, per language, one row per key of every reachable menu node (plus `none`)."""
    status = roster.calendar.status(at)
    gaps = {g.branch: g.reason for g in coverage_gaps(roster, policy, at, 1, step_minutes=60)}
    return {
        "at": at.isoformat(),
        "local": f"{status.local_time:%Y-%m-%d %H:%M %Z} ({roster.calendar.tz.key})",
        "open": status.open,
        "day": status.day_kind.value,
        "hours": status.reason,
        "on_duty": [_person(a) for a in roster.on_duty(at)],
        "on_call": [
            _person(a) | {"rota": rota} for rota in roster.rotas for a in roster.on_call(at, rota)
        ],
        "branches": [
            {
                "branch": b.name,
                "skill": b.skill,
                "priority": b.priority,
                "oncall": b.oncall,
                "reach": _reach(b.name in gaps, b.name, at, roster, policy, caller),
                "why": gaps.get(b.name, ""),
            }
            for b in policy.branches.values()
        ],
        "menu": {lang: _rows(menu, roster, policy, lang, at, caller) for lang in languages},
    }


def _reach(
    gap: bool, branch: str, at: datetime, roster: Roster, policy: RoutingPolicy, caller: str
) -> str:
    """`person`, `none` (a gap: lookahead's reason says what callers get), `external`
    (an outside number, a rule's target), or callback / voicemail on purpose (closed
    hours, a holiday closing the branch, a rule)."""
    if gap:
        return "none"
    kind = decide(CallContext(caller, branch), at, roster, policy, Presence()).route.kind
    return "person" if kind.value in WAITING_ROUTE_KINDS else kind.value


def _person(a: Agent) -> dict[str, Any]:
    return {"agent": a.id, "name": a.name, "seat": a.seat, "skills": sorted(a.skills)}


def _rows(
    menu: Menu, roster: Roster, policy: RoutingPolicy, language: str, at: datetime, caller: str
) -> list[dict[str, Any]]:
    """Every reachable node (breadth first from the start) and each of its keys."""
    rows: list[dict[str, Any]] = []
    paths = {menu.start: ""}  # node -> the keys that reach it from the start
    todo = deque([menu.start])
    while todo:
        node = menu.node(todo.popleft())
        before = paths[node.id]
        for key, target in node.options.items():
            row: dict[str, Any] = {"node": node.id, "key": key, "target": str(target)}
            if target.kind is TargetKind.MENU:
                row["goes"] = f"menu {target.arg}"
                if target.arg not in paths:
                    paths[target.arg] = before + key
                    todo.append(target.arg)
            elif target.kind is TargetKind.LANGUAGE:
                row["goes"] = f"the same menu in {target.arg}"
            elif target.kind is TargetKind.REPEAT:
                row["goes"] = f"menu {node.id} again"
            else:
                row |= _walk(menu, roster, policy, language, at, caller, before + key)
            rows.append(row)
        row = {"node": node.id, "key": NO_KEY, "target": str(node.on_failure)}
        rows.append(row | _walk(menu, roster, policy, language, at, caller, before))
    return rows


def _walk(
    menu: Menu,
    roster: Roster,
    policy: RoutingPolicy,
    language: str,
    at: datetime,
    caller: str,
    keys: str,
) -> dict[str, Any]:
    """Where the keys lead (then silence), as the IVR session decides it."""
    r = simulate(menu, roster, policy, language, at, caller, keys)
    kind, target = r["route"]["kind"], r["route"]["target"]
    if kind == "callback":
        target = "the caller's number"
    goes = f"{kind} {target}".rstrip()
    if kind in WAITING_ROUTE_KINDS:
        goes += f" (priority {r['priority']}, then {r['overflow']})"
    elif kind == RouteKind.EXTERNAL.value:
        goes += f" (then {r['overflow']})"
    why = [t for t in r["trace"] if not t.startswith("menu ") and not t.startswith("route: ")]
    return {"goes": goes, "route": r["route"], "branch": r["branch"], "why": why}
