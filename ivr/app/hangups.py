"""Missed hang-ups: end the records of calls whose channels are gone unheard.

A call's record ends on the AMI `Hangup` of its channel. While the AMI link is
down (Asterisk restarted, the link dropped, the service itself restarted
mid-call) those events are lost, and the record would stay "in progress" for
ever: live on the board, out of every report. So after each AMI (re)connect,
and every `ami.sweep_seconds` besides, the service compares the open records on
Asterisk channels with the channels Asterisk still has:

    sweep = MissedHangups(log, open_calls, live_channels, clock)
    sweep()         # -> the uids whose records it ended this time
    sweep.pending   # some records' channels were missing once: list again soon

A record is ended only when its channel was missing from two listings in a row
(the Hangup of a call that ended just before a listing may still be on its way;
by the next listing, seconds later, it has landed). The records are read *before* the channels
are listed, so a call that starts in between is never taken for gone. The end
is recorded at the sweep's time, with no outcome of its own (it follows from
the record: answered, abandoned...) and a cause that says the hang-up was not
heard; if the real `Hangup` lands later after all, its earlier time wins.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ivr.app.ports import CallLog, Clock
from ivr.domain.calllog import CallEnded

MISSED_CAUSE = "hang-up not heard: the channel was gone at the sweep"
LOOK_BACK = timedelta(days=2)  # older open records are left alone (not Asterisk's any more)


@dataclass
class MissedHangups:
    """Ends the records of calls that have no channel left (see the module).

    `open_calls(since)`: the uids of open records on Asterisk channels started since.
    `live_channels()`: every uniqueid and linkedid Asterisk has now, or None when
    it cannot say (AMI down): then nothing is ended, and the count starts again.
    """

    log: CallLog
    open_calls: Callable[[datetime], Sequence[str]]
    live_channels: Callable[[], Collection[str] | None]
    clock: Clock
    look_back: timedelta = LOOK_BACK
    _missing: set[str] = field(default_factory=set)

    @property
    def pending(self) -> bool:
        """Whether some records' channels were missing from the last listing only."""
        return bool(self._missing)

    def __call__(self) -> list[str]:
        now = self.clock()
        candidates = self.open_calls(now - self.look_back)
        live = self.live_channels()
        if live is None:
            self._missing.clear()
            return []
        missing = {uid for uid in candidates if uid not in live}
        ended = sorted(missing & self._missing)
        for uid in ended:
            self.log.record(CallEnded(uid, now, MISSED_CAUSE))
        self._missing = missing - self._missing  # missing once: checked at the next listing
        return ended
