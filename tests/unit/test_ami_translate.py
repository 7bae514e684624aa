"""AMI events (Asterisk 22 field names) translated into call-log events and seat updates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ivr.adapters.asterisk.ami import SeatUpdate, action_fields, event_keys, seat_of, translate
from ivr.domain.calllog import CallAnswered, CallEnded, CallStarted, Routed

AT = datetime(2026, 11, 23, 2, 0, 5, tzinfo=UTC)
CALL_UID = "1732330800.5"  # the caller's channel
SEAT_UID = "1732330802.6"  # the seat channel the call was bridged to


def caller_snapshot(context: str, exten: str = "s", uid: str = CALL_UID) -> dict[str, str]:
    """The channel-snapshot fields AMI puts in every channel event, for the caller leg."""
    return {
        "Privilege": "call,all",
        "Channel": "PJSIP/anonymous-00000003",
        "ChannelState": "6",
        "ChannelStateDesc": "Up",
        "CallerIDNum": "13800000001",
        "CallerIDName": "Alice",
        "ConnectedLineNum": "<unknown>",
        "ConnectedLineName": "<unknown>",
        "Language": "en",
        "AccountCode": "",
        "Context": context,
        "Exten": exten,
        "Priority": "3",
        "Uniqueid": uid,
        "Linkedid": CALL_UID,
    }


def dest_snapshot(channel: str = "PJSIP/seat3-00000004") -> dict[str, str]:
    return {
        "DestChannel": channel,
        "DestChannelState": "6",
        "DestChannelStateDesc": "Up",
        "DestCallerIDNum": "seat3",
        "DestCallerIDName": "<unknown>",
        "DestConnectedLineNum": "13800000001",
        "DestConnectedLineName": "Alice",
        "DestLanguage": "en",
        "DestAccountCode": "",
        "DestContext": "hotline-seats",
        "DestExten": "s",
        "DestPriority": "1",
        "DestUniqueid": SEAT_UID,
        "DestLinkedid": CALL_UID,
    }


def dial_end(status: str, context: str = "hotline-route-seat", dest: str = "") -> dict[str, str]:
    return {
        "Event": "DialEnd",
        **caller_snapshot(context),
        **dest_snapshot(dest or "PJSIP/seat3-00000004"),
        "DialStatus": status,
    }


# --- DialEnd --------------------------------------------------------------------------------


def test_dial_end_answer_from_a_seat_is_an_answered_call() -> None:
    events = translate("DialEnd", dial_end("ANSWER"), AT)
    assert events == [CallAnswered(CALL_UID, AT, "seat3")]


def test_dial_end_answer_from_the_queue_context() -> None:
    events = translate("DialEnd", dial_end("ANSWER", context="hotline-route-queue"), AT)
    assert events == [CallAnswered(CALL_UID, AT, "seat3")]


@pytest.mark.parametrize("status", ["NOANSWER", "BUSY", "CANCEL", "CHANUNAVAIL", "CONGESTION"])
def test_dial_end_without_answer_is_nothing(status: str) -> None:
    assert translate("DialEnd", dial_end(status), AT) == []


def test_dial_end_outside_the_hotline_contexts_is_ignored() -> None:
    # a seat calling another seat directly
    assert translate("DialEnd", dial_end("ANSWER", context="hotline-seats"), AT) == []


def test_dial_end_to_a_non_pjsip_destination_is_ignored() -> None:
    keys = dial_end("ANSWER", dest="Local/100@hotline-seats-00000001;1")
    assert translate("DialEnd", keys, AT) == []


# --- AgentConnect ---------------------------------------------------------------------------


def test_agent_connect_names_the_member_seat() -> None:
    keys = {
        "Event": "AgentConnect",
        **caller_snapshot("hotline-route-queue"),
        **dest_snapshot(),
        "Queue": "enquiries",
        "Interface": "PJSIP/seat3",
        "MemberName": "seat3",
        "HoldTime": "4",
        "BridgedChannel": "2f1a6c9e-3c1b-4a39-9b7e-1e5a0d6f8a21",
        "RingTime": "2",
    }
    assert translate("AgentConnect", keys, AT) == [CallAnswered(CALL_UID, AT, "seat3")]


# --- Hangup ---------------------------------------------------------------------------------


def hangup(context: str, uid: str, channel: str, accountcode: str = "hotline-in") -> dict[str, str]:
    """A Hangup; a channel that entered the hotline carries its account code."""
    keys = {"Event": "Hangup", **caller_snapshot(context, uid=uid), "Channel": channel}
    return {**keys, "AccountCode": accountcode, "Cause": "16", "Cause-txt": "Normal Clearing"}


def test_hangup_of_the_caller_channel_ends_the_call() -> None:
    keys = hangup("hotline-route-queue", CALL_UID, "PJSIP/anonymous-00000003")
    assert translate("Hangup", keys, AT) == [
        CallStarted(CALL_UID, AT, "13800000001", "Alice", "", "PJSIP/anonymous-00000003", "ami"),
        CallEnded(CALL_UID, AT, "16 Normal Clearing"),
    ]


@pytest.mark.parametrize("context", ["hotline-inbound", "hotline-fallback", "hotline-route-seat"])
def test_hangup_in_any_hotline_context_ends_the_call(context: str) -> None:
    keys = hangup(context, CALL_UID, "PJSIP/anonymous-00000003")
    assert [type(e) for e in translate("Hangup", keys, AT)] == [CallStarted, CallEnded]


def test_hangup_alone_gives_the_start_from_the_channel_age() -> None:
    # A caller gone during Answer's media wait: no AGI ever ran. The event carries
    # Asterisk's time and the entry time the dialplan set before Answer.
    keys = {
        **hangup("hotline-inbound", CALL_UID, "PJSIP/anonymous-00000003"),
        "Exten": "4000",
        "ChannelState": "6",
        "Timestamp": "1795312805.250000",
        "ChanVariable(HOTLINE_ENTERED)": "1795312804.950000",
    }
    started, ended = translate("Hangup", keys, AT)
    assert isinstance(started, CallStarted) and isinstance(ended, CallEnded)
    assert started.at == AT - timedelta(milliseconds=300) and ended.at == AT
    assert (started.caller, started.dialed, started.source) == ("13800000001", "4000", "ami")


@pytest.mark.parametrize(
    "timestamp, entered",
    [("", "1.0"), ("x", "1.0"), ("5.0", "9.0"), ("1e300", "0"), ("nan", "1"), ("9e9", "1")],
)
def test_a_missing_or_senseless_channel_age_starts_the_record_at_the_hangup(
    timestamp: str, entered: str
) -> None:
    keys = {
        **hangup("hotline-inbound", CALL_UID, "PJSIP/anonymous-00000003"),
        "Timestamp": timestamp,
        "ChanVariable(HOTLINE_ENTERED)": entered,
    }
    started = translate("Hangup", keys, AT)[0]
    assert isinstance(started, CallStarted) and started.at == AT


def test_hangup_before_answer_is_still_recorded() -> None:
    # CANCEL while Asterisk had not answered yet: channel state Ring, the caller's cause.
    keys = {
        **hangup("hotline-inbound", CALL_UID, "PJSIP/anonymous-00000003"),
        "ChannelState": "4",
        "ChannelStateDesc": "Ring",
        "Exten": "4000",
        "Cause": "127",
        "Cause-txt": "Interworking, unspecified",
    }
    assert translate("Hangup", keys, AT) == [
        CallStarted(
            CALL_UID, AT, "13800000001", "Alice", "4000", "PJSIP/anonymous-00000003", "ami"
        ),
        CallEnded(CALL_UID, AT, "127 Interworking, unspecified"),
    ]


def test_hangup_caller_fields_are_sanitised() -> None:
    keys = {
        **hangup("hotline-inbound", CALL_UID, "PJSIP/anonymous-00000003"),
        "CallerIDNum": "<unknown>",
        "CallerIDName": "Bob\udcff\x00\r\nX",
    }
    started = translate("Hangup", keys, AT)[0]
    assert isinstance(started, CallStarted)
    assert (started.caller, started.caller_name) == ("", "Bob\ufffd   X")


def test_event_keys_flatten_channel_variables() -> None:
    raw = {"Event": "Hangup", "ChanVariable": {"HOTLINE_ENTERED": "1.5"}, "Odd": 3}
    assert event_keys(raw) == {"Event": "Hangup", "ChanVariable(HOTLINE_ENTERED)": "1.5"}


def test_hangup_of_a_seat_channel_is_ignored() -> None:
    # the seat leg: its own Uniqueid, the caller's Linkedid
    keys = hangup("hotline-seats", SEAT_UID, "PJSIP/seat3-00000004")
    assert translate("Hangup", keys, AT) == []
    keys = hangup("hotline-route-queue", SEAT_UID, "PJSIP/seat3-00000004")
    assert translate("Hangup", keys, AT) == []


def test_hangup_of_a_call_that_never_entered_the_hotline_is_ignored() -> None:
    # e.g. the benchmark's bare baseline extension in the same inbound context
    keys = hangup("hotline-inbound", CALL_UID, "PJSIP/anonymous-00000003", accountcode="")
    assert translate("Hangup", keys, AT) == []


def test_hangup_outside_the_hotline_is_ignored() -> None:
    assert translate("Hangup", hangup("default", CALL_UID, "PJSIP/x-00000001"), AT) == []


def test_hangup_without_cause_text() -> None:
    keys = hangup("hotline-inbound", CALL_UID, "PJSIP/anonymous-00000003")
    keys.pop("Cause-txt")
    assert translate("Hangup", keys, AT)[1:] == [CallEnded(CALL_UID, AT, "16")]


# --- DeviceStateChange ------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["INUSE", "NOT_INUSE", "RINGING", "UNAVAILABLE", "ONHOLD"])
def test_device_state_change_updates_the_seat(state: str) -> None:
    keys = {"Event": "DeviceStateChange", "Privilege": "call,all", "Device": "PJSIP/seat3"}
    assert translate("DeviceStateChange", {**keys, "State": state}, AT) == [
        SeatUpdate("seat3", state)
    ]


@pytest.mark.parametrize("device", ["Queue:enquiries_avail", "Custom:DND_seat3", "SIP/seat3"])
def test_device_state_change_of_other_devices_is_ignored(device: str) -> None:
    keys = {"Event": "DeviceStateChange", "Device": device, "State": "INUSE"}
    assert translate("DeviceStateChange", keys, AT) == []


# --- UserEvent from the fallback context -------------------------------------------------------


def fallback_event(caller: str = "13800000001") -> dict[str, str]:
    return {
        "Event": "UserEvent",
        **caller_snapshot("hotline-fallback", uid="1732330900.9"),
        "Channel": "PJSIP/anonymous-00000007",
        "Linkedid": "1732330900.9",
        "UserEvent": "HotlineFallback",
        "Caller": caller,
    }


def test_fallback_user_event_logs_start_and_operator_route() -> None:
    events = translate("UserEvent", fallback_event(), AT)
    assert len(events) == 2
    started, routed = events
    assert isinstance(started, CallStarted)
    assert (started.uid, started.at, started.caller, started.caller_name) == (
        "1732330900.9",
        AT,
        "13800000001",
        "Alice",
    )
    assert (started.channel, started.source) == ("PJSIP/anonymous-00000007", "fallback")
    assert isinstance(routed, Routed)
    assert (routed.uid, routed.branch, routed.kind, routed.target) == (
        "1732330900.9",
        "operator",
        "queue",
        "operator",
    )
    assert routed.trace[-1] == "route: queue operator"


def test_fallback_user_event_with_unknown_caller() -> None:
    keys = {**fallback_event(caller=""), "CallerIDNum": "<unknown>"}
    started = translate("UserEvent", keys, AT)[0]
    assert isinstance(started, CallStarted)
    assert started.caller == ""


@pytest.mark.parametrize("uid", ["", "  ", None])
def test_fallback_user_event_without_a_uniqueid_makes_no_record(uid: str | None) -> None:
    """A record keyed by no call would gather every such event: the Hangup, which has
    the channel's uniqueid, makes the call's one record."""
    keys = {k: v for k, v in fallback_event().items() if k != "Uniqueid"}
    if uid is not None:
        keys["Uniqueid"] = uid
    assert translate("UserEvent", keys, AT) == []


def test_call_ids_and_seats_from_events_are_sanitised() -> None:
    keys = {**fallback_event(), "Uniqueid": "1732330900.9\x00\r\nX"}
    assert {e.uid for e in translate("UserEvent", keys, AT)} == {"1732330900.9   X"}
    connect = {"Linkedid": "1.2\x00", "Interface": "PJSIP/seat\r\n3"}
    assert translate("AgentConnect", connect, AT) == [CallAnswered("1.2 ", AT, "seat  3")]
    state = {"Device": "PJSIP/seat\x003", "State": "INUSE\x00"}
    assert translate("DeviceStateChange", state, AT) == [SeatUpdate("seat 3", "INUSE ")]
    hangup_keys = {**hangup("hotline-inbound", CALL_UID, "PJSIP/anonymous-00000003")}
    hangup_keys["Cause-txt"] = "Normal\x00\r\nClearing"
    ended = translate("Hangup", hangup_keys, AT)[-1]
    assert isinstance(ended, CallEnded) and ended.hangup_cause == "16 Normal   Clearing"


def test_other_user_events_are_ignored() -> None:
    keys = {**fallback_event(), "UserEvent": "HotlineSelftestDtmf", "Digits": "1"}
    assert translate("UserEvent", keys, AT) == []


@pytest.mark.parametrize("name", ["Newchannel", "VarSet", "QueueCallerJoin", "FullyBooted"])
def test_unrelated_events_are_ignored(name: str) -> None:
    assert translate(name, caller_snapshot("hotline-inbound"), AT) == []


# --- seat_of and action_fields ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seat"),
    [
        ("PJSIP/seat3-0000002a", "seat3"),
        ("PJSIP/seat3", "seat3"),
        ("pjsip/seat3-00000004", "seat3"),
        ("PJSIP/seat_a-00000004", "seat_a"),
        ("SIP/seat3-00000004", ""),
        ("Local/100@ctx-00000001;1", ""),
        ("PJSIP/", ""),
        ("", ""),
    ],
)
def test_seat_of(text: str, seat: str) -> None:
    assert seat_of(text) == seat


def test_seat_of_device_with_a_hyphen_in_the_seat_name() -> None:
    # DeviceStateChange "Device" and AgentConnect "Interface" carry no channel suffix.
    assert seat_of("PJSIP/front-desk") == "front-desk"


def test_seat_of_channel_with_a_hyphen_in_the_seat_name() -> None:
    assert seat_of("PJSIP/front-desk-0000002a") == "front-desk"


def test_action_fields_neutralise_line_breaks() -> None:
    fields = action_fields(
        {"Queue": "enquiries\r\nAction: Originate", "Paused": True, "Penalty": 0}
    )
    assert fields == {"Queue": "enquiries  Action: Originate", "Paused": "True", "Penalty": "0"}
    assert all("\r" not in v and "\n" not in v for v in fields.values())
