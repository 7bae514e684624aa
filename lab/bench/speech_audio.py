"""Spoken test audio: espeak-ng speaks a phrase, sox makes it 8 kHz 16-bit mono,
and it becomes the PCMU RTP stream a SIPp caller plays (tests, `hotline bench speech`).

espeak-ng's Korean voice at 90 words a minute is what the packaged Korean vosk
model hears best (README, "Speech").
"""

from __future__ import annotations

import struct
import subprocess
import tempfile
from pathlib import Path

from lab.bench.media import PT_PCMU, SAMPLES, ulaw, write_pcap

RATE = 8000
VOICE = "ko"
WPM = 90


def speak(text: str, voice: str = VOICE, wpm: int = WPM) -> bytes:
    """The phrase as signed 16-bit little-endian PCM at 8 kHz, mono."""
    with tempfile.TemporaryDirectory(prefix="hotline-speak-") as tmp:
        wav, raw = Path(tmp) / "said.wav", Path(tmp) / "said.raw"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(wav), text],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
        subprocess.run(
            ["sox", str(wav), "-r", str(RATE), "-b", "16", "-c", "1", "-e", "signed-integer",
             "-t", "raw", "-L", str(raw)],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
        return raw.read_bytes()


def silence(seconds: float) -> bytes:
    return b"\x00\x00" * int(RATE * seconds)


def pcmu_packets(pcm: bytes) -> list[tuple[float, bytes]]:
    """(offset s, RTP bytes) every 20 ms: the PCM as G.711 mu-law, payload type 0."""
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm[: len(pcm) // 2 * 2])
    packets = []
    for slot, first in enumerate(range(0, len(samples), SAMPLES)):
        chunk = samples[first : first + SAMPLES]
        payload = bytes(ulaw(s) for s in chunk) + bytes([0xFF]) * (SAMPLES - len(chunk))
        header = struct.pack(
            ">BBHII", 0x80, (0x80 if slot == 0 else 0) | PT_PCMU, slot, slot * SAMPLES, 0x5BEEC4
        )
        packets.append((slot * 0.020, header + payload))
    return packets


def utterance_pcap(path: Path, text: str, lead_s: float = 1.0, tail_s: float = 4.0) -> float:
    """A pcap of `lead_s` of silence, the phrase, then `tail_s` of silence; returns
    the offset (s) where the phrase ends."""
    said = speak(text)
    write_pcap(path, pcmu_packets(silence(lead_s) + said + silence(tail_s)))
    return lead_s + len(said) / (2 * RATE)
