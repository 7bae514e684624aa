"""The SIPp harness: scenario rendering, log parsing, and real calls (e2e)."""

from __future__ import annotations

import dataclasses
import os
import re
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.adapters.asterisk import names
from ivr.adapters.asterisk.errors import SippError
from ivr.adapters.asterisk.templates import AsteriskSettings, settings_from_yaml_dir
from lab.sipp import SeatPool, SharedSeats, place_call, run_load
from lab.sipp_scenario import (
    CallPlan,
    caller_scenario,
    caller_steps,
    dtmf_pcaps,
    parse_message_log,
    seat_scenario,
    sip_display,
    sip_user,
    user_of,
)
from lab.testing import (
    AmiEvents,
    StubFastAGI,
    free_tcp_port,
    running_sandbox,
)

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


MESSAGE_LOG = """\
----------------------------------------------- 2026-11-23 00:33:35.085707
UDP message sent (584 bytes):

INVITE sip:4999@127.0.0.1:5060 SIP/2.0
From: "x" <sip:123@127.0.0.1:58680>;tag=22964SIPpTag001
CSeq: 1 INVITE

v=0
----------------------------------------------- 2026-11-23 00:33:35.087350
UDP message received [716] bytes :

SIP/2.0 200 OK
CSeq: 1 INVITE
Call-ID: 1-22964@127.0.0.1

----------------------------------------------- 2026-11-23 00:33:38.087350
UDP message received [400] bytes :

BYE sip:123@127.0.0.1:58680 SIP/2.0
CSeq: 5 BYE

"""


# --- pure ------------------------------------------------------------------------


def test_parse_message_log() -> None:
    messages = parse_message_log(MESSAGE_LOG)
    assert [m.first_line.split(" ")[0] for m in messages] == ["INVITE", "SIP/2.0", "BYE"]
    assert [m.received for m in messages] == [False, True, True]
    assert messages[1].status == 200 and messages[1].header("call-id") == "1-22964@127.0.0.1"
    assert messages[2].method == "BYE"
    assert user_of(messages[0].header("from")) == "123"
    assert messages[0].at is not None and messages[2].at is not None
    assert messages[2].at - messages[0].at == pytest.approx(3.0016, abs=1e-3)


def test_caller_values_cannot_inject_headers() -> None:
    assert sip_user("+86 138\r\nX-Evil: 1") == "+86%20138X-Evil%3A%201"
    assert sip_display('张三 "VIP"\\\n') == '张三 \\"VIP\\"\\\\'
    assert sip_user("") == "anonymous"


def test_keys_are_checked() -> None:
    with pytest.raises(SippError, match="'A'"):
        caller_steps(CallPlan("1A"))


def test_rfc2833_steps_play_one_pcap_per_key() -> None:
    steps, bye_cseq = caller_steps(CallPlan("1*#", first_key_delay_ms=500, key_gap_ms=300))
    assert "dtmf_2833_1.pcap" in steps and "dtmf_2833_star.pcap" in steps
    assert "dtmf_2833_pound.pcap" in steps
    assert steps.count('<recv request="BYE"') == 5  # first delay, 3 gaps, hold
    assert bye_cseq == 2


def _rtp_numbers(pcap: Path) -> list[tuple[int, int]]:
    data, offset, found = pcap.read_bytes(), 24, []
    while offset + 16 <= len(data):
        incl = struct.unpack_from("<I", data, offset + 8)[0]
        rtp = offset + 16 + 14 + 20 + 8
        found.append(struct.unpack_from(">HI", data, rtp + 2))
        offset += 16 + incl
    return found


def test_dtmf_pcaps_number_rtp_upwards(tmp_path: Path) -> None:
    """The shipped pcaps of "4" carry higher RTP numbers than "2": "42" must not."""
    first, second = dtmf_pcaps("42", tmp_path)
    a, b = _rtp_numbers(first), _rtp_numbers(second)
    assert len(a) == len(b) == 10
    assert max(seq for seq, _ in a) < min(seq for seq, _ in b)
    assert a[0][1] < b[0][1]


def test_info_steps_and_bye_cseq() -> None:
    steps, bye_cseq = caller_steps(CallPlan("12", dtmf="info"))
    assert "Signal=1" in steps and "Signal=2" in steps
    assert "CSeq: 2 INFO" in steps and "CSeq: 3 INFO" in steps
    assert bye_cseq == 4


def test_hangup_mid_menu_stops_sending_keys() -> None:
    plan = CallPlan("123", first_key_delay_ms=500, key_gap_ms=1000, hangup_after_ms=1200)
    steps, _ = caller_steps(plan)
    assert "dtmf_2833_1.pcap" in steps and "dtmf_2833_2.pcap" not in steps
    xml = caller_scenario(plan, "4000")
    assert "INVITE sip:4000@" in xml and "@{" not in xml


def test_survey_keys_follow_the_menu_keys_after_their_delay() -> None:
    plan = CallPlan("1", first_key_delay_ms=500, key_gap_ms=300, survey="4", survey_delay_ms=4300)
    steps, _ = caller_steps(plan)
    waits = re.findall(r'timeout="(\d+)"', steps)
    assert waits == ["500", "300", "4300", "300", "2000"]  # delay, gap, survey delay, gap, hold
    assert steps.index("dtmf_2833_1.pcap") < steps.index("dtmf_2833_4.pcap")
    with pytest.raises(SippError, match="'x'"):
        caller_steps(CallPlan("1", survey="x"))


def test_a_hang_up_before_the_survey_sends_no_survey_key() -> None:
    plan = CallPlan(
        "1", first_key_delay_ms=500, survey="4", survey_delay_ms=4000, hangup_after_ms=3000
    )
    steps, _ = caller_steps(plan)
    assert "dtmf_2833_4.pcap" not in steps
    assert sum(int(t) for t in re.findall(r'timeout="(\d+)"', steps)) == 3000


def test_a_stream_starts_at_the_ack_for_callers_and_seats() -> None:
    """`hotline bench media`: the caller's and the seat's RTP pcap play from the ACK."""
    stream = Path("/tmp/x/stream.pcap")
    play = f'<exec play_pcap_audio="{stream}"/>'
    xml = caller_scenario(CallPlan("", 0, hold_ms=5000), "4000", stream=stream)
    assert xml.index("CSeq: 1 ACK") < xml.index(play) < xml.index('timeout="5000"')
    seat = seat_scenario(200, None, stream)
    assert seat.count(play) == 1
    assert seat.index('<recv request="ACK" crlf="true"/>') < seat.index(play)
    assert seat.index(play) < seat.index('<recv request="BYE" timeout=')
    plain = seat_scenario(200, None)
    assert "play_pcap_audio" not in plain and "@{" not in plain
    assert "play_pcap_audio" not in caller_scenario(CallPlan(""), "4000")


def test_seats_never_share_a_media_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """SIPp binds -mp and -mp + 2; with a hundred seats two random picks meet."""
    import lab.sipp

    picks = iter([40000, 40002, 40000, 39998, 40010, 40020])
    monkeypatch.setattr(lab.sipp, "free_udp_port", lambda pair=False: next(picks))
    spawned: list[list[str]] = []
    monkeypatch.setattr(SeatPool, "_spawn", lambda self, name, args, where: spawned.append(args))
    pool = SeatPool(settings_from_yaml_dir(CONFIG_DIR), seats=["seat1", "seat2", "seat3"])
    pool.start()
    try:
        assert pool.media_ports == {"seat1": 40000, "seat2": 40010, "seat3": 40020}
        assert [a[a.index("-mp") + 1] for a in spawned] == ["40000", "40010", "40020"]
    finally:
        pool.stop()


def test_shared_seats_need_registered_seats_and_a_plain_password() -> None:
    static = settings_from_yaml_dir(CONFIG_DIR)
    with pytest.raises(SippError, match="register"):
        SharedSeats(static)
    for bad in ("", "pw;x", "pw]x", "pw x", "pw\nx", 'pw"x', "pw\\x"):
        seats = SharedSeats(
            dataclasses.replace(static, seat_contacts="register", seat_password=bad), processes=2
        )
        with pytest.raises(SippError, match="password"):
            seats.start()  # refused before any REGISTER is sent
        assert seats._procs == {} and seats._tmp is None  # and what it started is stopped


@pytest.mark.parametrize("pool", ["static", "shared"])
def test_a_seat_port_taken_before_sipp_binds_it_is_chosen_again(
    monkeypatch: pytest.MonkeyPatch, pool: str
) -> None:
    """A port is free when chosen, but another process can bind it before the seat's
    SIPp does: SIPp exits 254 at once, and the seats used to fail to start ("port in
    use?"). They are launched again on ports chosen again. Real SIPp processes; no
    Asterisk needed (a shared pool registers nowhere here)."""
    import socket

    import lab.sipp as sipp

    settings = sample_settings(seat_port_base=sipp.free_udp_port() - 1, seat_contacts="register")
    held = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    held.bind(("127.0.0.1", 0))
    taken = [held.getsockname()[1]]  # the first media port handed out: already bound
    real = sipp.free_udp_port
    monkeypatch.setattr(
        sipp, "free_udp_port", lambda pair=False: taken.pop() if taken and pair else real(pair)
    )
    if pool == "static":
        seats: SeatPool = SeatPool(settings, seats=["seat1"])
    else:
        seats = SharedSeats(settings, processes=1, seats=["seat1"])
        monkeypatch.setattr(seats, "_register", lambda: None)
    launched: list[int] = []
    launch = seats._launch

    def counted() -> None:
        launched.append(1)
        launch()

    monkeypatch.setattr(seats, "_launch", counted)
    with held, seats:
        assert len(launched) == 2  # the first launch lost its port
        assert held.getsockname()[1] not in seats.media_ports.values()
        assert all(proc.poll() is None for proc in seats._procs.values())
        if isinstance(seats, SharedSeats):  # the contact registered is the live process's
            assert len(seats.sip_ports) == 1


def test_a_sipp_run_whose_port_was_taken_runs_again_on_ports_chosen_again(
    tmp_path: Path,
) -> None:
    """What place_call, run_load and the seats' registration share: a run whose port was
    taken (exit 254, nothing sent) runs again with its arguments built again."""
    import socket

    import lab.sipp as sipp

    held = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    held.bind(("127.0.0.1", 0))
    ports = [held.getsockname()[1], sipp.free_udp_port()]
    built: list[int] = []

    def args() -> list[str]:
        built.append(ports[len(built)])
        return ["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(built[-1]),
                "-nostdin", "-timeout", "1s", "-m", "1"]  # fmt: skip

    with held:
        proc = sipp._run_sipp_on_free_ports(args, tmp_path, 20)
    assert built == ports and proc.returncode != sipp.SIPP_BIND_ERROR


# --- real calls ------------------------------------------------------------------

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs root (chroot)")


def sample_settings(**changes: object) -> AsteriskSettings:
    return dataclasses.replace(settings_from_yaml_dir(CONFIG_DIR), **changes)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def cfg() -> Iterator[AsteriskSettings]:
    settings = sample_settings(selftest_extensions=True, fastagi_port=free_tcp_port())
    with running_sandbox(settings, restore=sample_settings()):
        yield settings


@pytest.mark.e2e
@needs_root
def test_a_caller_port_taken_before_sipp_binds_it_is_chosen_again(
    cfg: AsteriskSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ports are free when chosen, but another process can bind one first: SIPp then
    exits 254 before sending anything, and the call is placed again on fresh ports."""
    import socket

    import lab.sipp as sipp

    held = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    held.bind(("127.0.0.1", 0))
    taken = [held.getsockname()[1]]  # the first SIP port handed out: already bound
    real = sipp.free_udp_port
    monkeypatch.setattr(
        sipp, "free_udp_port", lambda pair=False: taken.pop() if taken and not pair else real(pair)
    )
    runs: list[int] = []
    run = sipp._run_sipp

    def counted(*args: object, **kwargs: object) -> object:
        proc = run(*args, **kwargs)  # type: ignore[arg-type]
        runs.append(proc.returncode)
        return proc

    monkeypatch.setattr(sipp, "_run_sipp", counted)
    with held, AmiEvents(cfg) as ami:
        result = place_call("5#", "13800000109", extension="4998", hold_ms=8000)
        ami.wait_for("UserEvent", lambda f: f.get("Caller") == "13800000109")
    assert runs == [sipp.SIPP_BIND_ERROR, 0]
    assert result.ok


@pytest.mark.e2e
@needs_root
def test_rfc2833_digits_reach_asterisk(cfg: AsteriskSettings) -> None:
    caller = "13800000101"
    with AmiEvents(cfg) as ami:
        result = place_call("427#", caller, extension="4998", hold_ms=8000, key_gap_ms=250)
        event = ami.wait_for("UserEvent", lambda f: f.get("Caller") == caller)
    assert event.fields["UserEvent"] == "HotlineSelftestDtmf"
    assert event.fields["Digits"] == "427"
    assert result.ok and result.hung_up_by == "asterisk"


@pytest.mark.e2e
@needs_root
def test_ami_user_receives_only_the_events_the_hotline_reads(cfg: AsteriskSettings) -> None:
    """manager.conf's eventfilter: a call's Newchannel, Newstate, DTMF... never
    reach the hotline's AMI user; its UserEvent and Hangup do."""
    caller = "13800000103"
    with AmiEvents(cfg) as ami:
        place_call("5#", caller, extension="4998", hold_ms=8000, key_gap_ms=250)
        ami.wait_for("UserEvent", lambda f: f.get("Caller") == caller)
        ami.wait_for("Hangup", lambda f: f.get("CallerIDNum") == caller)
        names_seen = {e.name for e in ami.events}
    # FullyBooted is part of the login handshake, not an event of the call: when
    # Asterisk has finished booting, manager.c's login action writes it straight
    # into the new session's output, past every eventfilter; when the login comes
    # first it arrives later through the filter. Either may happen on a freshly
    # started sandbox, so it is the one name this test cannot rule out.
    handshake = {"FullyBooted"}
    assert names_seen - handshake <= set(names.AMI_EVENTS), names_seen - set(names.AMI_EVENTS)
    assert {"UserEvent", "Hangup"} <= names_seen


@pytest.mark.e2e
@needs_root
def test_sip_info_digits_reach_asterisk(cfg: AsteriskSettings) -> None:
    caller = "13800000102"
    with AmiEvents(cfg) as ami:
        result = place_call("93#", caller, extension="4998", hold_ms=8000, dtmf="info")
        event = ami.wait_for("UserEvent", lambda f: f.get("Caller") == caller)
    assert event.fields["Digits"] == "93"
    assert result.ok


@pytest.mark.e2e
@needs_root
def test_caller_hangs_up_mid_menu(cfg: AsteriskSettings) -> None:
    result = place_call(
        "123", "13800000103", extension="4998", first_key_delay_ms=300, key_gap_ms=2000,
        hangup_after_ms=1000,
    )  # fmt: skip
    assert result.ok and result.hung_up_by == "caller"
    assert result.duration_s is not None and result.duration_s < 2


@pytest.mark.e2e
@needs_root
def test_digit_dials_the_matching_seat(cfg: AsteriskSettings) -> None:
    caller = "13800000104"
    with SeatPool(cfg, seats=["seat2", "seat4"]) as pool:
        result = place_call("4", caller, extension="4997", hold_ms=2000)
        call = pool.wait_for_call(caller, timeout_s=5)
    assert call.seat == "seat4"
    assert result.ok and result.hung_up_by == "caller"


@pytest.mark.e2e
@needs_root
def test_hotline_route_to_seat_reaches_the_sipp_seat(cfg: AsteriskSettings) -> None:
    """The real inbound dialplan, FastAGI answered by a stub deciding 'seat3'."""
    caller = "13800000105"
    route = {
        names.VAR_ROUTE_KIND: "seat",
        names.VAR_ROUTE_TARGET: "PJSIP/seat3",
        names.VAR_RING_SECONDS: "5",
        names.VAR_OVERFLOW: "voicemail",
    }
    with (
        StubFastAGI(cfg.fastagi_port, route) as agi,
        SeatPool(cfg, seats=["seat3"], ring_ms=300) as pool,
    ):
        result = place_call("", caller, display='张三 "VIP"', hold_ms=2500)
        call = pool.wait_for_call(caller, timeout_s=5)
    assert call.seat == "seat3"
    assert call.display.startswith("张三 ") and "VIP" in call.display  # Asterisk re-escapes
    assert agi.requests and agi.requests[0]["agi_network_script"] == names.ROUTE_HOTLINE
    assert agi.requests[0]["agi_callerid"] == caller
    assert result.ok and result.hung_up_by == "caller"


@pytest.mark.e2e
@needs_root
def test_queue_route_rings_a_member_added_over_ami(cfg: AsteriskSettings) -> None:
    caller = "13800000106"
    route = {
        names.VAR_ROUTE_KIND: "queue",
        names.VAR_ROUTE_TARGET: "repairs",
        names.VAR_PRIORITY: "3",
        names.VAR_MAX_WAIT: "10",
    }
    with (
        AmiEvents(cfg) as ami,
        StubFastAGI(cfg.fastagi_port, route),
        SeatPool(cfg, seats=["seat5"]) as pool,
    ):
        assert ami.action("QueueAdd", Queue="repairs", Interface="PJSIP/seat5") == "Success"
        try:
            result = place_call("", caller, hold_ms=2500)
            call = pool.wait_for_call(caller, timeout_s=5)
        finally:
            ami.action("QueueRemove", Queue="repairs", Interface="PJSIP/seat5")
        joined = ami.find("QueueCallerJoin", lambda f: f.get("CallerIDNum") == caller)
    assert call.seat == "seat5"
    assert joined and joined[0].fields["Queue"] == "repairs"
    assert result.ok and result.hung_up_by == "caller"


@pytest.mark.e2e
@needs_root
def test_empty_queue_overflows_to_the_overflow_route(cfg: AsteriskSettings) -> None:
    caller = "13800000107"
    first = {names.VAR_ROUTE_KIND: "queue", names.VAR_ROUTE_TARGET: "complaints"}
    overflow = {names.VAR_ROUTE_KIND: "callback"}
    with StubFastAGI(
        cfg.fastagi_port, first, routes={names.ROUTE_OVERFLOW: overflow, names.ROUTE_CALLBACK: {}}
    ) as agi:
        result = place_call("", caller, hold_ms=40000, timeout_s=60)
    scripts = [r["agi_network_script"] for r in agi.requests]
    # The empty queue gave up, the overflow route chose callback, and the callback
    # route asked FastAGI to record the request (the stub promises nothing, so the
    # caller is offered voicemail, then Asterisk hangs up).
    assert scripts == [names.ROUTE_HOTLINE, names.ROUTE_OVERFLOW, names.ROUTE_CALLBACK]
    assert agi.requests[2]["agi_callerid"] == caller
    assert result.ok and result.hung_up_by == "asterisk"


@pytest.mark.e2e
@needs_root
def test_small_load_on_baseline(cfg: AsteriskSettings) -> None:
    load = run_load(rate=20, seconds=1, scenario="baseline", hold_ms=5000)
    assert load.created == 20
    assert load.completed == 20 and load.failed == 0
