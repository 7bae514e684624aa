"""Requests from the call log: key 9 and overflow offers (route kind callback),
voicemail left when closed, and (when configured) callers who gave up waiting.

The IVR handler may create the request itself (`CallbackIntake.request_from_ivr`
with the call's uid); this scan is the safety net that also covers calls the
handler never saw (FastAGI down, abandoned calls). The call's uid is the
request's `source_uid`, so a call never makes two requests.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ivr.adapters.db.callbacks import CallbackRepo, CallSource
from ivr.app.callbacks import CallbackIntake, CallbackRefusedError
from ivr.config.callbacks import IntakeSettings
from ivr.domain.privacy import mask_number

log = logging.getLogger(__name__)

ABANDONED = "abandoned_waiting"
VOICEMAIL = "voicemail"


def wanted(source: CallSource, settings: IntakeSettings) -> str | None:
    """The request's source word for a call, or None when it asks for nothing."""
    if source.route_kind == "callback":
        return "ivr" if source.branch in ("menu", "") else "overflow"
    if source.route_kind == VOICEMAIL or source.outcome == VOICEMAIL:
        return VOICEMAIL if settings.voicemail_callbacks else None
    if source.outcome == ABANDONED and settings.abandoned_calls:
        waited = source.wait_seconds or 0.0
        return "abandoned" if waited >= settings.abandoned_min_wait_seconds else None
    return None


@dataclass
class CallLogIntake:
    repo: CallbackRepo
    intake: CallbackIntake
    settings: IntakeSettings
    _refused: set[str] = field(default_factory=set)

    def scan(self, now: datetime) -> int:
        """Create the requests the recent call log asks for; returns how many were new."""
        s = self.settings
        outcomes = [VOICEMAIL] if s.voicemail_callbacks else []
        if s.abandoned_calls:
            outcomes.append(ABANDONED)
        kinds = ["callback", VOICEMAIL] if s.voicemail_callbacks else ["callback"]
        since = now - timedelta(hours=s.lookback_hours)
        created = 0
        for call in self.repo.calls_wanting_callback(since, kinds, outcomes):
            source = wanted(call, s)
            if source is None or call.uid in self._refused:
                self._refused.add(call.uid)
                continue
            try:
                promise = self.intake.request_from_ivr(
                    call.caller, call.language, call.branch, call.started_at, uid=call.uid,
                    source=source,
                )  # fmt: skip
            except CallbackRefusedError as e:
                self._refused.add(call.uid)
                log.info("call %s: no callback to %s: %s", call.uid, mask_number(call.caller), e)
                continue
            if not promise.created:
                self._refused.add(call.uid)  # merged into an open request: nothing to add
            created += promise.created
        return created
