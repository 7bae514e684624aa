"""What the supervisor board shows: one JSON-able snapshot of seats, staffing, queue, today.

Built from the database only (agent_states, seat_states, calls), so it shows
what the FastAGI/AMI service has written, whoever wrote it. Caller numbers are
masked: the board is on a wall screen (REQUIREMENTS §7).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from ivr.adapters.db.presence import AgentStateRecord
from ivr.adapters.db.speech_stats import speech_counts
from ivr.adapters.db.survey import day_counts
from ivr.bootstrap import Runtime
from ivr.domain.metrics import ServiceTarget, StaffingProblem, figures, staffing_now
from ivr.domain.shifts import Agent
from web import case_live, queries, store
from web.security import mask_number
from web.settings import WebSettings

RINGING_DEVICE = frozenset({"RINGING", "RINGINUSE"})
TALKING_DEVICE = frozenset({"INUSE", "BUSY", "ONHOLD"})


def effective_states(
    rt: Runtime, now: datetime, records: Mapping[str, AgentStateRecord] | None = None
) -> dict[str, tuple[str, str, datetime | None]]:
    """agent -> (state, reason, since); an agent with no record follows the routing default.
    `records`: the stored states as read already (in a `state_change`), else read here."""
    if records is None:
        records = rt.presence_repo.agent_states()
    on_duty = {a.id for a in rt.config.roster.staffed(now)}
    assumed = rt.config.policy.assume_signed_in
    out: dict[str, tuple[str, str, datetime | None]] = {}
    for a in rt.config.roster.agents:
        rec = records.get(a.id)
        if rec is not None:
            out[a.id] = (rec.state, rec.reason, rec.since)
        else:
            out[a.id] = ("available" if assumed and a.id in on_duty else "signed_out", "", None)
    return out


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


def _seat(
    a: Agent,
    state: tuple[str, str, datetime | None],
    device: str,
    call: queries.LiveCall | None,
    scheduled: bool,
    now: datetime,
    away_limit: timedelta,
) -> dict[str, Any]:
    agent_state, reason, since = state
    shown, shown_since = agent_state, since
    if call is not None or device in TALKING_DEVICE:
        shown = "on_call"
        shown_since = call.answered_at if call is not None else None
    elif device in RINGING_DEVICE:
        shown, shown_since = "ringing", None
    too_long = agent_state == "away" and since is not None and now - since > away_limit
    return {
        "seat": a.seat,
        "agent": a.id,
        "name": a.name,
        "role": a.role.value,
        "scheduled": scheduled,
        "state": shown,
        "agent_state": agent_state,
        "reason": reason if agent_state == "away" else "",
        "since": _iso(shown_since),
        "device": device,
        "caller": mask_number(call.caller) if call is not None else None,
        "branch": call.branch if call is not None else None,
        "away_too_long": too_long,
    }


def _why(stored: str) -> dict[str, Any]:
    """A stored away refusal as {code, count, limit} ({text} for older free text)."""
    p = StaffingProblem.parse(stored)
    if p is None:
        return {"code": None, "text": stored}
    return {"code": p.code.value, "count": p.count, "limit": p.limit}


def day_bounds(rt: Runtime, now: datetime) -> tuple[datetime, datetime]:
    tz = rt.config.site.tz
    start = datetime.combine(now.astimezone(tz).date(), time(0), tz)
    return start, start + timedelta(days=1)


def snapshot(rt: Runtime, settings: WebSettings, s: Session, now: datetime) -> dict[str, Any]:
    roster = rt.config.roster
    states = effective_states(rt, now)
    devices = rt.presence_repo.seat_states()
    live = queries.live_calls(s, now)
    by_seat = {c.seat: c for c in live if c.answered_at is not None and c.seat}
    scheduled = {a.id for a in roster.staffed(now)}
    away_limit = timedelta(minutes=settings.away_limit_minutes)
    seats = [
        _seat(
            a,
            states[a.id],
            devices.get(a.seat, ""),
            by_seat.get(a.seat),
            a.id in scheduled,
            now,
            away_limit,
        )
        for a in roster.agents
    ]
    staffing = staffing_now(
        roster, rt.config.staffing, {k: v[0] for k, v in states.items()}, now, "signed_out"
    )
    # Codes and numbers, not sentences: one snapshot goes to users of every language
    # (board.js words them with the page's labels, web.messages on the server).
    alarms: list[dict[str, Any]] = [
        {"code": a.code.value, "count": a.count, "limit": a.limit} for a in staffing.alarms
    ]
    alarms += [
        {"code": "away_too_long", "agent": x["agent"], "minutes": settings.away_limit_minutes}
        for x in seats
        if x["away_too_long"]
    ]
    shed = queries.shed_since(s, now - timedelta(minutes=settings.shed_alarm_minutes))
    if shed:
        alarms.append({"code": "shedding", "count": shed, "minutes": settings.shed_alarm_minutes})
    waiting = [
        {
            "uid": c.uid,
            "caller": mask_number(c.caller),
            "branch": c.branch,
            "vip": c.vip,
            "since": _iso(c.routed_at or c.started_at),
        }
        for c in live
        if queries.is_waiting(c)
    ]
    start, end = day_bounds(rt, now)
    target = ServiceTarget(settings.sl_seconds, settings.sl_level)
    fig = figures(queries.sql_tally(s, start, end, target))
    t = fig.tally
    scored, satisfied, not_resolved = day_counts(s, start, end, rt.config.survey.satisfied_from)
    spoken = speech_counts(s, start, end)
    return {
        "now": now.isoformat(),
        "open": staffing.open,
        "seats": seats,
        "staffing": {
            "scheduled": list(staffing.scheduled),
            "present": list(staffing.present),
            "present_ordinary": staffing.present_ordinary,
            "required": staffing.required,
            "away": list(staffing.away),
            "max_away": staffing.max_away,
        },
        "alarms": alarms,
        "waiting": waiting,
        "in_menu": sum(1 for c in live if c.route_kind is None),
        "today": {
            "offered": t.offered,
            "answered": t.answered,
            "abandoned_in_menu": t.abandoned_in_menu,
            "abandoned_in_queue": t.abandoned_in_queue,
            "service_level": fig.service_level,
            "asa_seconds": fig.asa_seconds,
            "aht_seconds": fig.aht_seconds,
            "target": {"seconds": settings.sl_seconds, "level": settings.sl_level},
            "surveys_scored": scored,
            "satisfaction_rate": satisfied / scored if scored else None,
            "not_resolved": not_resolved,
            "menu_choices": spoken.choices,
            "speech_share": spoken.share,  # menu choices made by speech
            "speech_failures": spoken.failures,  # spoken attempts not understood
        },
        # The case escalation ladder, as the sweep records it (lead, then manager).
        "escalations": case_live.escalations(rt, now),
        "requests": [
            {
                "id": r.id,
                "agent": r.agent_id,
                "reason": r.reason,
                "why": _why(r.why_needed),
                "at": _iso(r.requested_at),
            }
            for r in store.away_requests(s)
        ],
    }
