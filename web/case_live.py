"""The case escalation ladder, live: what the board's stream and the agent page's
stream carry about cases (codes and numbers only; the pages word them).

The sweep (the service's loop every `escalation.sweep_seconds`, or `hotline cases
sweep`) records each step as a case event, once; these read the latest of those
events, so a step reaches every open page within a poll of its being recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ivr.adapters.db.cases import CaseFilter, CaseRepo, Escalated
from ivr.bootstrap import Runtime
from ivr.domain.cases import ACTIVE_STATES, urgency

MAX_SHOWN = 20


def _step(e: Escalated, tz: Any) -> dict[str, Any]:
    return {
        "case_no": e.case_no,
        "step": e.step,
        "at": e.at.astimezone(tz).isoformat(),
        "owner": e.owner,
        "class": e.case_class,
        "branch": e.branch,
        "deadline": e.deadline.astimezone(tz).isoformat(),
    }


def escalations(
    rt: Runtime, now: datetime, owners: frozenset[str] | None = None
) -> list[dict[str, Any]]:
    """Steps of the ladder recorded within the board's "near" window (24 h by default)
    on cases still active, newest first; `owners` narrows to those agents' cases."""
    since = now - rt.config.cases.rules.near
    tz = rt.config.site.tz
    found = CaseRepo(rt.sessions).escalations(since, owners)
    return [_step(e, tz) for e in found[:MAX_SHOWN]]


def agent_snapshot(rt: Runtime, agent_id: str, now: datetime) -> dict[str, Any]:
    """The agent page's live part: their active cases' ladder step and urgency, and the
    latest escalations of their cases."""
    rules = rt.config.cases.rules
    mine = CaseRepo(rt.sessions).search(
        CaseFilter(owners=frozenset({agent_id}), states=ACTIVE_STATES), limit=MAX_SHOWN
    )
    return {
        "now": now.isoformat(),
        "cases": [
            {
                "case_no": c.case_no,
                "state": c.state.value,
                "escalation": c.escalation.value,
                "urgency": urgency(c.state, c.deadline, now, rules.near).value,
            }
            for c in mine
        ],
        "escalations": escalations(rt, now, frozenset({agent_id})),
    }
