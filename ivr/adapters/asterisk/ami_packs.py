"""AMI's byte stream cut into packs, within a bound, without I/O.

Asterisk's manager sends a greeting line, then packs (an event, a response) that end
with an empty line (CRLF CRLF). asterisk-ami gathers bytes until that end whatever
their number, and searches all it holds again after every read: a pack that never
ends (a peer gone wrong, a channel variable or a caller name of megabytes) grew the
service's memory without bound and its CPU with the square of its size. `PackSplitter`
keeps at most `limit` bytes of a pack: a longer one is skipped to its end and
counted, and the packs after it come through as before, so the link stays up.
Asterisk's largest events (a Hangup with its channel variables) are about 1 KB.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_AMI_PACK = 64 * 1024  # bytes of one event or response
END = b"\r\n\r\n"
LINE_END = b"\r\n"


class AmiGreetingError(ConnectionError):
    """The peer's first line is not an AMI greeting within the bound."""


@dataclass
class Skipped:
    """A pack longer than the bound, left out: how many bytes it had (at least)."""

    size: int


@dataclass
class PackSplitter:
    """Packs out of AMI's stream: `feed` the bytes read, get back the whole packs (and a
    `Skipped` for each one over `limit` bytes), in order.

    >>> s = PackSplitter(limit=16)
    >>> s.feed(b"Event: A\\r\\n\\r\\nEvent: ") + s.feed(b"B\\r\\n\\r\\n")
    [b'Event: A', b'Event: B']
    >>> s.feed(b"Event: " + b"x" * 40) + s.feed(b"\\r\\n\\r\\nEvent: C\\r\\n\\r\\n")
    [Skipped(size=47), b'Event: C']
    """

    limit: int = MAX_AMI_PACK
    _buf: bytearray = field(default_factory=bytearray)
    _scanned: int = 0  # the buffer's bytes already searched for END (less its length - 1)
    _skipping: int = 0  # bytes of an oversized pack seen so far (0: none)

    def feed(self, data: bytes) -> list[bytes | Skipped]:
        buf = self._buf
        buf += data
        out: list[bytes | Skipped] = []
        while True:
            at = buf.find(END, max(0, self._scanned - len(END) + 1))
            if at < 0:
                self._scanned = len(buf)
                if self._skipping or len(buf) > self.limit:
                    # keep what could be the start of END; count the rest
                    keep = len(END) - 1
                    self._skipping += max(0, len(buf) - keep)
                    del buf[:-keep]
                    self._scanned = len(buf)
                return out
            if self._skipping:
                out.append(Skipped(self._skipping + at))
                self._skipping = 0
            elif at > self.limit:
                out.append(Skipped(at))
            else:
                out.append(bytes(buf[:at]))
            del buf[: at + len(END)]
            self._scanned = 0

    def greeting(self, data: bytes) -> bytes | None:
        """The greeting line once it is all in `data` (the rest stays for `feed`),
        None while it is not; AmiGreetingError past the bound.

        >>> PackSplitter().greeting(b"Asterisk Call Manager/9.0.0\\r\\nResp")
        b'Asterisk Call Manager/9.0.0'
        """
        buf = self._buf
        buf += data
        at = buf.find(LINE_END)
        if at < 0:
            if len(buf) > self.limit:
                raise AmiGreetingError(f"no AMI greeting in the first {self.limit} bytes")
            return None
        line = bytes(buf[:at])
        del buf[: at + len(LINE_END)]
        return line
