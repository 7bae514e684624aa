"""Asterisk's AudioSocket protocol, pure: frames of kind (1 byte), length (2 bytes,
big-endian) and payload.

    0x00 hang-up (no payload)     0x01 the call's UUID (16 bytes)
    0x03 DTMF (one ASCII digit)   0x10 audio: signed 16-bit linear, 8 kHz, mono
    0xff error (a code)

>>> frame(KIND_AUDIO, b"\\x00\\x01")
b'\\x10\\x00\\x02\\x00\\x01'
>>> parse_header(b"\\x01\\x00\\x10")
(1, 16)
"""

from __future__ import annotations

import struct
import uuid

KIND_HANGUP = 0x00
KIND_UUID = 0x01
KIND_DTMF = 0x03
KIND_AUDIO = 0x10
KIND_ERROR = 0xFF
HEADER_BYTES = 3
MAX_PAYLOAD = 65535


class AudioSocketError(Exception):
    """A frame that is not AudioSocket's."""


def frame(kind: int, payload: bytes = b"") -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise AudioSocketError(f"payload of {len(payload)} bytes is over {MAX_PAYLOAD}")
    return struct.pack(">BH", kind, len(payload)) + payload


def parse_header(header: bytes) -> tuple[int, int]:
    """(kind, payload length) of a 3-byte header."""
    if len(header) != HEADER_BYTES:
        raise AudioSocketError(f"header of {len(header)} bytes, not {HEADER_BYTES}")
    kind, length = struct.unpack(">BH", header)
    return kind, length


def call_uuid(payload: bytes) -> str:
    """The UUID frame's payload as text ('6ba7b810-9dad-11d1-80b4-00c04fd430c8')."""
    if len(payload) != 16:
        raise AudioSocketError(f"UUID payload of {len(payload)} bytes, not 16")
    return str(uuid.UUID(bytes=payload))


def uuid_of_call(uid: str, namespace: uuid.UUID) -> str:
    """The AudioSocket UUID of the call with this Asterisk unique id: stable for one
    FastAGI process (its `namespace`, random at start), so every step of a call finds
    the same audio, and not guessable by another local process that would feed
    audio for someone else's call.

    >>> ns = uuid.uuid4()
    >>> uuid_of_call("1732330800.2", ns) == uuid_of_call("1732330800.2", ns)
    True
    >>> uuid_of_call("1732330800.2", ns) == uuid_of_call("1732330800.2", uuid.uuid4())
    False
    """
    return str(uuid.uuid5(namespace, f"hotline-call:{uid}"))
