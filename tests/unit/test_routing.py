"""Routing precedence: emergency, VIP, first-contact, skill queue, overflow; queue membership."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from ivr.config import HotlineConfig
from ivr.domain.routing import (
    BUSY_DEVICE_STATES,
    AgentState,
    Branch,
    CallContext,
    Decision,
    Presence,
    Route,
    RouteKind,
    RoutingPolicy,
    decide,
    normalise_number,
    overflow,
    queue_members,
)
from ivr.domain.shifts import Roster

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
MONDAY_14 = datetime(2026, 11, 23, 14, 0, tzinfo=SHANGHAI)
SUNDAY_03 = datetime(2026, 11, 22, 3, 0, tzinfo=SHANGHAI)
SUNDAY_10 = datetime(2026, 11, 22, 10, 0, tzinfo=SHANGHAI)
NATIONAL_DAY_14 = datetime(2026, 10, 2, 14, 0, tzinfo=SHANGHAI)

CALLER = "13912345678"
VIP_CALLER = "+86 138-0000-0001"


@pytest.fixture
def roster(sample_config: HotlineConfig) -> Roster:
    return sample_config.roster


@pytest.fixture
def policy(sample_config: HotlineConfig) -> RoutingPolicy:
    return sample_config.policy


def presence(
    states: dict[str, AgentState] | None = None, devices: dict[str, str] | None = None
) -> Presence:
    return Presence(agent_states=states or {}, device_states=devices or {})


def route(
    roster: Roster,
    policy: RoutingPolicy,
    at: datetime,
    branch: str,
    *,
    caller: str = CALLER,
    previous: str | None = None,
    seats: Presence | None = None,
) -> Decision:
    return decide(CallContext(caller, branch, previous), at, roster, policy, seats or presence())


def trace_has(d: Decision, text: str) -> bool:
    return any(text in line for line in d.trace)


# --- emergency first ----------------------------------------------------------------------


def test_emergency_goes_to_the_on_call_rota_at_night(roster: Roster, policy: RoutingPolicy) -> None:
    d = route(roster, policy, SUNDAY_03, "emergency")
    assert d.route == Route(RouteKind.EMERGENCY, "emergency")
    assert d.queue == "emergency"
    assert d.priority == 10
    assert d.overflow is RouteKind.VOICEMAIL
    assert trace_has(d, "emergency: outranks every other call")
    assert trace_has(d, "on call: zhao, li; free: zhao, li")
    assert d.trace[-1] == "route: emergency emergency"


def test_emergency_outranks_vip_and_first_contact(roster: Roster, policy: RoutingPolicy) -> None:
    # chen is on duty and free, and took this caller's last call: still emergency.
    d = route(roster, policy, MONDAY_10, "emergency", caller=VIP_CALLER, previous="chen")
    assert d.route == Route(RouteKind.EMERGENCY, "emergency")
    assert d.vip
    assert d.priority == 10 + 5
    assert trace_has(d, "VIP caller: priority 10 + 5 = 15")
    assert not trace_has(d, "first-contact")


def test_emergency_team_is_rota_then_skilled_seats(roster: Roster, policy: RoutingPolicy) -> None:
    assert trace_has(route(roster, policy, MONDAY_10, "emergency"), "on call: liu, zhang;")
    # zhao (emergency skill) joins on the afternoon seat shift, after the rota.
    d = route(roster, policy, MONDAY_14, "emergency")
    assert trace_has(d, "on call: liu, zhang, zhao; free: liu, zhang, zhao")


def test_emergency_trace_shows_who_is_free(roster: Roster, policy: RoutingPolicy) -> None:
    seats = presence({"zhao": AgentState.AWAY}, {"seat3": "INUSE"})
    d = route(roster, policy, SUNDAY_03, "emergency", seats=seats)
    assert d.route.kind is RouteKind.EMERGENCY
    assert trace_has(d, "on call: zhao, li; free: none")


def test_emergency_with_nobody_signed_in_goes_to_voicemail(
    roster: Roster, policy: RoutingPolicy
) -> None:
    strict = replace(policy, assume_signed_in=False)
    d = route(roster, strict, SUNDAY_03, "emergency")
    assert d.route == Route(RouteKind.VOICEMAIL, "hotline")
    assert trace_has(d, "nobody on the on-call rota")


# --- VIP ------------------------------------------------------------------------------


def test_vip_priority_is_boosted_and_traced(roster: Roster, policy: RoutingPolicy) -> None:
    d = route(roster, policy, MONDAY_10, "complaints", caller=VIP_CALLER)
    assert d.route == Route(RouteKind.QUEUE, "complaints")
    assert d.vip
    assert d.priority == 2 + 5
    assert trace_has(d, "VIP caller: priority 2 + 5 = 7")


def test_vip_boost_comes_from_the_policy(roster: Roster, policy: RoutingPolicy) -> None:
    d = route(roster, replace(policy, vip_boost=20), MONDAY_10, "complaints", caller=VIP_CALLER)
    assert d.priority == 22
    assert trace_has(d, "priority 2 + 20 = 22")


def test_ordinary_caller_has_branch_priority(roster: Roster, policy: RoutingPolicy) -> None:
    d = route(roster, policy, MONDAY_10, "repairs")
    assert not d.vip
    assert d.priority == 3
    assert not trace_has(d, "VIP")


@pytest.mark.parametrize("number", ["+8613800000001", "13800000001", "+86 139 0000 0002"])
def test_vip_numbers_match_after_normalising(policy: RoutingPolicy, number: str) -> None:
    assert policy.is_vip(number)


def test_non_vip_number(policy: RoutingPolicy) -> None:
    assert not policy.is_vip("13800000009")


# --- first-contact responsibility ---------------------------------------------------------


def test_repeat_caller_goes_back_to_the_free_previous_agent(
    roster: Roster, policy: RoutingPolicy
) -> None:
    d = route(roster, policy, MONDAY_10, "enquiries", previous="chen")
    assert d.route == Route(RouteKind.SEAT, "PJSIP/seat2")
    assert d.queue == "enquiries"  # where the call waits if chen does not answer
    assert d.overflow is policy.when_no_agent
    assert trace_has(d, "first-contact: back to chen at seat2")


def test_repeat_vip_caller_keeps_the_boost_at_the_seat(
    roster: Roster, policy: RoutingPolicy
) -> None:
    d = route(roster, policy, MONDAY_10, "enquiries", caller=VIP_CALLER, previous="chen")
    assert d.route == Route(RouteKind.SEAT, "PJSIP/seat2")
    assert d.priority == 6


@pytest.mark.parametrize("device_state", sorted(BUSY_DEVICE_STATES))
def test_repeat_caller_to_queue_when_previous_agent_busy(
    roster: Roster, policy: RoutingPolicy, device_state: str
) -> None:
    seats = presence(devices={"seat2": device_state})
    d = route(roster, policy, MONDAY_10, "enquiries", previous="chen", seats=seats)
    assert d.route == Route(RouteKind.QUEUE, "enquiries")
    assert trace_has(d, "previous agent chen busy or away")
    assert trace_has(d, "free: lead, li, liu")


@pytest.mark.parametrize("state", [AgentState.AWAY, AgentState.WRAP_UP])
def test_repeat_caller_to_queue_when_previous_agent_not_available(
    roster: Roster, policy: RoutingPolicy, state: AgentState
) -> None:
    seats = presence({"chen": state})
    d = route(roster, policy, MONDAY_10, "enquiries", previous="chen", seats=seats)
    assert d.route == Route(RouteKind.QUEUE, "enquiries")
    assert trace_has(d, "previous agent chen busy or away")


def test_repeat_caller_to_queue_when_previous_agent_off_duty(
    roster: Roster, policy: RoutingPolicy
) -> None:
    d = route(roster, policy, MONDAY_10, "repairs", previous="zhao")  # zhao: afternoons
    assert d.route == Route(RouteKind.QUEUE, "repairs")
    assert trace_has(d, "previous agent zhao not on duty")
    # the same caller in the afternoon goes back to zhao
    d = route(roster, policy, MONDAY_14, "repairs", previous="zhao")
    assert d.route == Route(RouteKind.SEAT, "PJSIP/seat6")


def test_repeat_caller_to_queue_when_previous_agent_signed_out(
    roster: Roster, policy: RoutingPolicy
) -> None:
    seats = presence({"chen": AgentState.SIGNED_OUT})
    d = route(roster, policy, MONDAY_10, "enquiries", previous="chen", seats=seats)
    assert d.route == Route(RouteKind.QUEUE, "enquiries")
    assert trace_has(d, "previous agent chen not on duty")


def test_previous_agent_on_call_only_is_not_a_seat(roster: Roster, policy: RoutingPolicy) -> None:
    # li is on the night rota on Sunday, not on seat duty: closed, callback.
    d = route(roster, policy, SUNDAY_03, "enquiries", previous="li")
    assert d.route.kind is RouteKind.CALLBACK
    assert trace_has(d, "previous agent li not on duty")


# --- skill queues and overflow ------------------------------------------------------------


def test_skill_match_goes_to_the_branch_queue(roster: Roster, policy: RoutingPolicy) -> None:
    d = route(roster, policy, MONDAY_10, "complaints")
    assert d.route == Route(RouteKind.QUEUE, "complaints")
    assert d.branch == "complaints"
    assert (d.max_wait_seconds, d.ring_seconds) == (120, 20)
    assert d.overflow is RouteKind.CALLBACK
    assert trace_has(d, "skill 'complaints': 3 on duty, free: lead, chen, zhang")


def test_all_busy_still_queues_and_says_so(roster: Roster, policy: RoutingPolicy) -> None:
    seats = presence(devices={f"seat{i}": "INUSE" for i in range(1, 7)})
    d = route(roster, policy, MONDAY_10, "complaints", seats=seats)
    assert d.route == Route(RouteKind.QUEUE, "complaints")
    assert trace_has(d, "free: none")
    assert trace_has(d, "all busy: wait in queue up to 120s")


def test_away_agents_do_not_count_as_free(roster: Roster, policy: RoutingPolicy) -> None:
    seats = presence({"lead": AgentState.AWAY, "chen": AgentState.WRAP_UP})
    d = route(roster, policy, MONDAY_10, "complaints", seats=seats)
    assert d.route == Route(RouteKind.QUEUE, "complaints")
    assert trace_has(d, "3 on duty, free: zhang")


def test_nobody_with_the_skill_while_open_uses_when_no_agent(
    roster: Roster, policy: RoutingPolicy
) -> None:
    p = replace(
        policy,
        branches={**policy.branches, "sales": Branch("sales", "sales", 1)},
        when_no_agent=RouteKind.VOICEMAIL,
        when_closed=RouteKind.CALLBACK,
    )
    d = route(roster, p, MONDAY_10, "sales")
    assert d.route == Route(RouteKind.VOICEMAIL, "hotline")
    assert d.overflow is RouteKind.VOICEMAIL
    assert trace_has(d, "no agent with skill 'sales' on duty (open): voicemail")


def test_closed_uses_when_closed(roster: Roster, policy: RoutingPolicy) -> None:
    p = replace(policy, when_no_agent=RouteKind.CALLBACK, when_closed=RouteKind.VOICEMAIL)
    d = route(roster, p, SUNDAY_10, "enquiries")
    assert d.route == Route(RouteKind.VOICEMAIL, "hotline")
    assert trace_has(d, "(closed): voicemail")
    assert trace_has(d, "closed: outside opening hours (weekend)")


def test_closed_callback_targets_the_normalised_caller(
    roster: Roster, policy: RoutingPolicy
) -> None:
    d = route(roster, policy, SUNDAY_10, "enquiries", caller="+86 139-1234-5678")
    assert d.route == Route(RouteKind.CALLBACK, "+8613912345678")
    assert d.trace[-1] == "route: callback +8613912345678"


@pytest.mark.parametrize("caller", ["", "anonymous"])
def test_anonymous_caller_is_not_promised_a_callback(
    roster: Roster, policy: RoutingPolicy, caller: str
) -> None:
    d = route(roster, policy, SUNDAY_10, "enquiries", caller=caller)
    assert d.route == Route(RouteKind.VOICEMAIL, "hotline")


def test_holiday_afternoon_follows_closed_hours(roster: Roster, policy: RoutingPolicy) -> None:
    d = route(roster, policy, NATIONAL_DAY_14, "repairs")
    assert trace_has(d, "closed: holiday (National Day)")
    assert d.route == Route(RouteKind.CALLBACK, CALLER)


def test_operator_when_open_queues_with_top_priority(roster: Roster, policy: RoutingPolicy) -> None:
    d = route(roster, policy, MONDAY_10, "operator")
    assert d.route == Route(RouteKind.QUEUE, "operator")
    # the highest priority among non-emergency branches (repairs: 3)
    assert d.priority == 3
    assert trace_has(d, "5 on duty")


def test_operator_when_closed_goes_to_voicemail(roster: Roster, policy: RoutingPolicy) -> None:
    assert policy.when_closed is RouteKind.CALLBACK  # not what the operator fallback uses
    d = route(roster, policy, SUNDAY_10, "operator")
    assert d.route == Route(RouteKind.VOICEMAIL, "hotline")
    assert d.overflow is RouteKind.VOICEMAIL
    assert trace_has(d, "operator requested with nobody on duty: voicemail")


def test_not_signed_in_means_nobody_available(roster: Roster, policy: RoutingPolicy) -> None:
    strict = replace(policy, assume_signed_in=False)
    d = route(roster, strict, MONDAY_10, "enquiries")
    assert d.route == Route(RouteKind.CALLBACK, CALLER)  # when_no_agent
    assert trace_has(d, "no agent with skill 'enquiries' on duty (open)")
    # One agent signed in is enough to queue.
    d = route(
        roster, strict, MONDAY_10, "enquiries", seats=presence({"chen": AgentState.AVAILABLE})
    )
    assert d.route == Route(RouteKind.QUEUE, "enquiries")
    assert trace_has(d, "1 on duty, free: chen")


def test_unknown_branch_is_an_error(roster: Roster, policy: RoutingPolicy) -> None:
    with pytest.raises(ValueError, match="unknown routing branch 'nosuch'"):
        route(roster, policy, MONDAY_10, "nosuch")


def test_overflow_decision(policy: RoutingPolicy) -> None:
    d = overflow("enquiries", VIP_CALLER, policy, "queue enquiries: TIMEOUT")
    assert d.route == Route(RouteKind.CALLBACK, "+8613800000001")
    assert d.vip and d.branch == "enquiries"
    assert d.trace[0] == "overflow after queue enquiries: TIMEOUT: callback"
    d = overflow("enquiries", CALLER, replace(policy, when_no_agent=RouteKind.VOICEMAIL), "x")
    assert d.route == Route(RouteKind.VOICEMAIL, "hotline")


# --- queue membership ---------------------------------------------------------------------


def test_queue_members_follow_seat_duty(roster: Roster, policy: RoutingPolicy) -> None:
    m = queue_members(MONDAY_10, roster, policy, presence())
    assert m["enquiries"] == {"seat1": False, "seat2": False, "seat3": False, "seat5": False}
    assert m["repairs"] == {"seat1": False, "seat3": False, "seat4": False, "seat5": False}
    assert "seat6" not in m["repairs"]  # zhao is off duty in the morning
    assert set(m["operator"]) == {"seat1", "seat2", "seat3", "seat4", "seat5"}
    assert set(m) == {"enquiries", "complaints", "repairs", "emergency", "operator"}
    assert "seat6" in queue_members(MONDAY_14, roster, policy, presence())["repairs"]


def test_away_agents_stay_members_but_paused(roster: Roster, policy: RoutingPolicy) -> None:
    seats = presence({"chen": AgentState.AWAY, "li": AgentState.WRAP_UP})
    m = queue_members(MONDAY_10, roster, policy, seats)
    assert m["enquiries"] == {"seat1": False, "seat2": True, "seat3": True, "seat5": False}
    assert m["complaints"]["seat2"] is True
    assert m["operator"]["seat2"] is True


def test_signed_out_agents_are_not_members(roster: Roster, policy: RoutingPolicy) -> None:
    m = queue_members(MONDAY_10, roster, policy, presence({"chen": AgentState.SIGNED_OUT}))
    assert "seat2" not in m["enquiries"]
    assert "seat2" not in m["operator"]
    strict = replace(policy, assume_signed_in=False)
    assert all(
        members == {} for members in queue_members(MONDAY_10, roster, strict, presence()).values()
    )


def test_emergency_queue_holds_the_on_call_rota(roster: Roster, policy: RoutingPolicy) -> None:
    night = queue_members(SUNDAY_03, roster, policy, presence({"li": AgentState.AWAY}))
    assert night["emergency"] == {"seat6": False, "seat3": True}  # zhao, li (away: paused)
    assert night["enquiries"] == {} and night["operator"] == {}
    # Monday morning: the day rota (liu, zhang) although zhang lacks the emergency skill.
    day = queue_members(MONDAY_10, roster, policy, presence())
    assert day["emergency"] == {"seat5": False, "seat4": False}
    # Afternoon: zhao joins through the emergency skill on seat duty.
    assert set(queue_members(MONDAY_14, roster, policy, presence())["emergency"]) == {
        "seat4",
        "seat5",
        "seat6",
    }


# --- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        (" +86 138-0000-0001 ", "+8613800000001"),
        ("13800000001", "13800000001"),
        ("(010) 8888-1234", "01088881234"),
        ("+1 (555) 010-9999", "+15550109999"),
        ("", ""),
        ("anonymous", ""),
    ],
)
def test_normalise_number(raw: str, normal: str) -> None:
    assert normalise_number(raw) == normal
