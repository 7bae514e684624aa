"""`hotline bench media` with a few calls: the figures it prints come from real audio.

Three SIPp callers send PCMU and their key as RFC 2833 through the sandbox
Asterisk and the full IVR to three SIPp seats that talk back; tcpdump captures
the RTP. Speed is not asserted (the figures for 100 calls are in the README);
what is asserted is that the bench measures what it says: every call reached a
seat, the packets counted in each direction are close to what the other side
sent, the prompt was heard before the key, and the JSON has the fields.

Runs before tests/e2e (directory order): the bench brings its own hotline
service on the FastAGI port and stops the sandbox Asterisk when done.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3

import pytest

from lab.bench.media import KEY_MS, MAX_KEY_MS, run_media_bench
from lab.sandbox import Sandbox

CALLS, TALK_S = 3, 3.0
MENU_MS = KEY_MS + 1000  # not the default: the prompt's span shows it was honoured

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox and tcpdump need root"),
]


def test_small_media_bench_counts_the_audio_both_ways() -> None:
    result = run_media_bench(CALLS, talk_s=TALK_S, key_ms=MENU_MS)

    assert "errors" not in result, result.get("errors")
    assert result["placed"] == result["completed"] == CALLS and result["failed"] == 0
    assert result["answered_by_seats"] == CALLS  # each call reached a seat
    assert result["queue_members"] >= CALLS
    assert result["left_channels"] == 0
    assert result["max_channels"] == 2 * CALLS  # caller and seat legs, all at once
    assert result["capture"]["dropped by kernel"] == 0
    assert result["asterisk_cpu_ms_per_call"] > 0
    assert result["rig_cpu_s"] > 0  # the SIPp callers and seats, and tcpdump
    assert result["host_user_pct"] is not None and len(result["load_average_at_start"]) == 3

    sent = result["sent"]
    caller_slots, seat_slots = sent["caller_stream_packets"], sent["seat_stream_packets"]
    assert seat_slots == round(TALK_S / 0.02)
    # every packet SIPp played is on the wire, and nothing else is counted as sent
    assert sent["callers"] == CALLS * caller_slots
    assert sent["seats"] == CALLS * seat_slots

    to_seat, to_caller, prompt = (
        result["caller_to_seat"], result["seat_to_caller"], result["prompt_to_caller"]
    )  # fmt: skip
    for direction in (to_seat, to_caller, prompt):
        assert direction["calls"] == CALLS
        assert direction["measures"]
        assert 0 <= direction["loss_pct"] < 1, direction  # a quiet run: a few calls
        assert 0 < direction["max_gap_ms"] < 100, direction
    # The seats' whole stream was relayed to the callers, bar the first packets
    # sent before Asterisk had bridged the call (at most a few).
    assert CALLS * (seat_slots - 10) <= to_caller["received"] <= sent["seats"]
    # The callers' audio from the bridge to their hang-up reached the seats: the
    # key at MENU_MS, then the decision and the seat's ring (200 ms), so the
    # bridge came at least MENU_MS + 200 ms into the caller's stream.
    assert result["settings"]["key_ms"] == MENU_MS
    bridged_from = (MENU_MS + 200) / 1000 / 0.02
    assert CALLS * (caller_slots - bridged_from - 150) <= to_seat["expected"]
    assert to_seat["expected"] <= CALLS * (caller_slots - bridged_from)
    assert to_seat["received"] >= to_seat["expected"] - CALLS
    # The prompt played from the answer to the key: about MENU_MS at 50 packets/s.
    assert CALLS * (MENU_MS / 20 - 25) <= prompt["received"] <= CALLS * MENU_MS / 20
    assert prompt["peak_concurrent"] == CALLS  # every caller in the IVR at once
    assert result["caller_legs_without_key"] == 0
    # The seats registered for the run; none is left in the sandbox's astdb, where
    # the next user's Asterisk would dial it.
    astdb = Sandbox().root / "var/lib/asterisk/astdb.sqlite3"
    with contextlib.closing(sqlite3.connect(f"file:{astdb}?mode=ro", uri=True)) as db:
        left = db.execute("SELECT COUNT(*) FROM astdb WHERE key LIKE '/registrar/%'").fetchone()
    assert left == (0,)
    # the calls talked at the same time
    assert to_seat["peak_concurrent"] == to_caller["peak_concurrent"] == CALLS


@pytest.mark.parametrize("key_ms", [0, 499, MAX_KEY_MS + 1])
def test_a_key_time_outside_the_welcome_prompt_is_refused_before_any_call(key_ms: int) -> None:
    with pytest.raises(ValueError, match="key_ms"):
        run_media_bench(1, key_ms=key_ms)
