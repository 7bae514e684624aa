"""`hotline bench media` without the network: the streams it makes (G.711, RFC 2833
keys, tagged slots), the pcap it reads, and the figures it derives from packets.

The real run through the sandbox is tests/adapters/test_bench_media.py."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab.bench.media import (
    CALLER_TAG,
    EVENT_END_REPEATS,
    EVENT_PACKETS,
    PT_EVENT,
    SEAT_TAG,
    Packet,
    Stream,
    analyse,
    bench_config,
    peak_overlap,
    read_pcap,
    rtp_packets,
    tagged,
    tone,
    ulaw,
    untag,
    write_pcap,
)

REPO = Path(__file__).resolve().parents[2]
CALLER_PORT, SEAT_PORT, A_CALLER, A_SEAT = 40000, 41000, 10002, 10004


def test_ulaw_matches_g711_reference_points() -> None:
    assert ulaw(0) == 0xFF  # +0
    assert ulaw(32767) == 0x80 and ulaw(-32768) == 0x00  # clipped full scale
    assert ulaw(-1) == 0x7F  # -0 (magnitude below the first step)
    assert ulaw(1000) == 0xCE and ulaw(-1000) == 0x4E
    frame = tone(440)
    assert len(frame) == 160 and len(set(frame)) > 10


def test_a_stream_holds_tagged_audio_and_the_key_as_rfc2833(tmp_path: Path) -> None:
    packets, stream = rtp_packets(CALLER_TAG, 2.0, 440, {500: "1"})
    assert stream.slots == len(packets) == 100
    assert stream.key_slots == frozenset(range(25, 25 + EVENT_PACKETS + EVENT_END_REPEATS))
    write_pcap(tmp_path / "s.pcap", packets)
    read = list(read_pcap((tmp_path / "s.pcap").read_bytes()))
    assert len(read) == 100
    assert [round(p.at, 3) for p in read[:3]] == [0.0, 0.02, 0.04]
    assert {(p.src, p.dst) for p in read} == {(5000, 6000)}
    events = [p for p in read if p.pt == PT_EVENT]
    assert len(events) == EVENT_PACKETS + EVENT_END_REPEATS
    # event 1, end bit only on the last packets, duration growing then held
    raw = [rtp for _, rtp in packets if rtp[1] & 0x7F == PT_EVENT]
    assert raw[0][1] & 0x80  # marker on the first event packet
    codes = [struct.unpack(">BBH", rtp[12:16]) for rtp in raw]
    assert {c[0] for c in codes} == {1}
    assert [bool(c[1] & 0x80) for c in codes] == [False] * (EVENT_PACKETS - 1) + [True] * (
        EVENT_END_REPEATS + 1
    )
    assert codes[0][2] == 160 and codes[-1][2] == 160 * EVENT_PACKETS
    audio = [untag(p.payload) for p in read if p.pt == 0]
    # the capture reads only the first payload bytes, which hold the tag and slot
    assert audio[0] == (CALLER_TAG, 0) and audio[-1] == (CALLER_TAG, 99)
    assert stream.audio_slots == len(audio) == stream.audio_from(0)


def _flow(src: int, dst: int, times_slots: list[tuple[float, int | None]], tag: bytes) -> list:
    out = []
    for at, slot in times_slots:
        payload = tagged(tag, slot, tone(440)) if slot is not None else tone(300)
        out.append(Packet(at, src, dst, 0, payload))
    return out


def test_analyse_counts_each_direction_and_its_worst_gap() -> None:
    caller, seat = Stream(100), Stream(50)
    packets = []
    # the caller sends 100 slots; its key at 1.0 s
    sent = [
        Packet(i * 0.02, CALLER_PORT, A_CALLER, 0, tagged(CALLER_TAG, i, tone(1)))
        for i in range(100)
    ]
    sent[50] = Packet(1.0, CALLER_PORT, A_CALLER, PT_EVENT, b"\x01\x0a\x00\xa0")
    packets += sent
    # Asterisk plays a prompt to the caller from 0.1 s to the key, with one 120 ms hole
    prompt = [0.1 + i * 0.02 for i in range(40) if not 10 <= i < 15]
    packets += _flow(A_CALLER, CALLER_PORT, [(t, None) for t in prompt], SEAT_TAG)
    # the seat's 50 slots relayed to the caller from slot 2 on, one lost
    packets += _flow(
        A_CALLER, CALLER_PORT, [(1.5 + s * 0.02, s) for s in range(2, 50) if s != 30], SEAT_TAG
    )
    # the seat sends its 50, the caller's slots 70..99 reach the seat
    packets += [
        Packet(1.4 + s * 0.02, SEAT_PORT, A_SEAT, 0, tagged(SEAT_TAG, s, tone(1)))
        for s in range(50)
    ]
    packets += _flow(
        A_SEAT, SEAT_PORT, [(1.4 + (s - 70) * 0.02, s) for s in range(70, 100)], CALLER_TAG
    )
    # noise: another program's flow, a short packet
    packets.append(Packet(2.0, 30000, 30001, 0, b"x"))

    result = analyse(packets, CALLER_PORT, {SEAT_PORT}, caller, seat)

    to_seat, to_caller, heard = (
        result["caller_to_seat"], result["seat_to_caller"], result["prompt_to_caller"]
    )  # fmt: skip
    assert (to_seat["calls"], to_seat["expected"], to_seat["received"]) == (1, 30, 30)
    assert to_seat["loss_pct"] == 0.0 and to_seat["max_gap_ms"] == pytest.approx(20, abs=0.1)
    assert (to_caller["expected"], to_caller["received"]) == (48, 47)
    assert to_caller["loss_pct"] == pytest.approx(100 / 48, abs=0.001)
    assert to_caller["max_gap_ms"] == pytest.approx(40, abs=0.1)
    assert to_caller["worst_call_loss_pct"] == pytest.approx(100 / 48, abs=0.001)
    assert to_seat["peak_concurrent"] == to_caller["peak_concurrent"] == 1
    assert to_seat["interval_p99_ms"] == pytest.approx(20, abs=0.1)
    assert heard["interval_p999_ms"] == pytest.approx(120, abs=0.1)
    assert (heard["expected"], heard["received"]) == (40, 35)
    assert heard["max_gap_ms"] == pytest.approx(120, abs=0.1) and heard["gaps_over_100ms"] == 1
    assert result["sent"]["callers"] == 100 and result["sent"]["seats"] == 50
    assert result["caller_legs_without_key"] == 0


def test_a_caller_leg_without_its_key_is_counted_not_guessed() -> None:
    packets = _flow(A_CALLER, CALLER_PORT, [(i * 0.02, None) for i in range(10)], SEAT_TAG)
    result = analyse(packets, CALLER_PORT, {SEAT_PORT}, Stream(10), Stream(10))
    assert result["caller_legs_without_key"] == 1
    assert result["prompt_to_caller"]["calls"] == 0
    assert result["prompt_to_caller"]["loss_pct"] is None  # nothing expected: no figure


def test_read_pcap_refuses_what_is_not_a_capture_and_skips_what_it_cannot_read(
    tmp_path: Path,
) -> None:
    with pytest.raises(ValueError, match="not a pcap"):
        list(read_pcap(b"\x00" * 64))
    with pytest.raises(ValueError, match="link type"):
        list(read_pcap(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 105)))
    assert list(read_pcap(b"")) == []
    packets, _ = rtp_packets(SEAT_TAG, 0.1, 620)
    write_pcap(tmp_path / "s.pcap", packets)
    data = (tmp_path / "s.pcap").read_bytes()
    assert len(list(read_pcap(data[:-30]))) == 4  # the last one cut short
    # a TCP packet in the middle is skipped
    tcp = bytearray(data)
    tcp[24 + 16 + 14 + 9] = 6
    assert len(list(read_pcap(bytes(tcp)))) == 4


@given(st.binary(max_size=400))
def test_read_pcap_never_fails_on_a_damaged_body(body: bytes) -> None:
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for packet in read_pcap(header + body):
        assert 0 <= packet.src <= 65535 and 0 <= packet.pt <= 127


@given(st.binary(max_size=12))
def test_untag_only_accepts_the_bench_tags(payload: bytes) -> None:
    found = untag(payload)
    assert found is None or (payload[:4] in (CALLER_TAG, SEAT_TAG) and len(payload) >= 8)


def test_bench_config_has_registered_seats_open_around_the_clock(tmp_path: Path) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from ivr.config import load_config

    target = bench_config(REPO / "config", tmp_path / "cfg", 150)
    cfg = load_config(target, {})  # more agents than the loader allows YAML aliases
    roster = cfg.roster
    assert len(roster.agents) == 150
    assert all("enquiries" in a.skills for a in roster.agents)
    assert cfg.sip.seat_contacts == "register"  # served by a few shared SIPp processes
    sunday_night = datetime(2026, 10, 4, 3, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a holiday
    assert roster.calendar.is_open(sunday_night)


def test_peak_overlap_counts_spans_open_at_once() -> None:
    assert peak_overlap([]) == 0
    assert peak_overlap([(0, 10), (1, 2), (3, 12), (11, 13)]) == 2
    assert peak_overlap([(0, 1), (1, 2)]) == 1  # one ends as the next starts
    assert peak_overlap([(0, 5)] * 100) == 100
