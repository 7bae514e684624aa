"""Twilio's webhooks: /twilio/voice, /gather, /dial, /callback, /status, /end, /goodbye.

Every request must carry a valid X-Twilio-Signature for the URL Twilio called
(rebuilt from `twilio.base_url`, so it holds behind a reverse proxy); an unsigned
or tampered one gets 403 and an audit entry. These endpoints skip the session
login and the CSRF check (web.app) and nothing else: every field is checked
(400 naming it), and the state in the action URL is signed too (403 when it
was altered, is too old, belongs to another call or was used before).

The work is done by `ivr.adapters.twilio.voice.TwilioVoice` over the same
`IvrSession` as the FastAGI server; this module only checks and translates.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from flask import Blueprint, Flask, Response, abort, current_app, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from ivr import phone
from ivr.adapters.twilio import signature
from ivr.adapters.twilio.state import StateError
from ivr.adapters.twilio.voice import (
    CALL_STATUSES,
    DIAL_STATUSES,
    StatusReport,
    TwilioVoice,
)
from ivr.domain.menu import VALID_KEYS
from web import store
from web.auth import remote_addr
from web.context import ctx
from web.params import ParamError, choice_param, int_param, one, text_param
from web.security import LoginLimiter

bp = Blueprint("twilio", __name__, url_prefix="/twilio")
log = logging.getLogger(__name__)

EXTENSION = "hotline.twilio"  # app.extensions key of the TwilioVoice (None: not configured)
AUDIT_LIMIT = "hotline.twilio.audits"  # app.extensions key of the refused-audit limiter
AUDITS_PER_MINUTE = 30
CALL_SID = re.compile(r"CA[0-9a-f]{32}")
MAX_NUMBER = 64  # From/To: E.164, "anonymous", "client:alice", "sip:a@b"
MAX_SPEECH = 1000
MAX_KEYED = 20  # a callback number keyed on the phone
KEYED = re.compile(r"[0-9*#]{1,20}")
MAX_DURATION = 86_400
CLOCK_SKEW = timedelta(days=1)  # a Timestamp further from our clock is not believed
XML = "application/xml"


def init_app(app: Flask, voice: TwilioVoice | None) -> None:
    """The webhooks' parts for this app (None: no `twilio:` section, the endpoints 404)."""
    app.extensions[EXTENSION] = voice
    app.extensions[AUDIT_LIMIT] = LoginLimiter(AUDITS_PER_MINUTE, 60.0)


def use_voice(app: Flask, voice: TwilioVoice | None) -> None:
    """Replace the webhooks' parts (a reload); a webhook already running keeps its own."""
    app.extensions[EXTENSION] = voice


def _voice() -> TwilioVoice:
    voice: TwilioVoice | None = current_app.extensions.get(EXTENSION)
    if voice is None:
        abort(404)
    if not voice.settings.auth_token:
        abort(503, gettext("The Twilio auth token is not configured."))
    return voice


@bp.before_request
def _signed() -> ResponseReturnValue | None:
    """403 and an audit entry unless Twilio signed this URL and these fields."""
    voice = _voice()
    url = signature.public_url(
        voice.settings.base_url, request.path, request.query_string.decode("latin-1")
    )
    given = request.headers.get(signature.HEADER, "")
    if signature.verified(voice.settings.auth_token, url, request.form, given):
        return None
    return _refused("signature missing or wrong")


def _refused(reason: str) -> ResponseReturnValue:
    """403; an audit entry, at most AUDITS_PER_MINUTE per address (a flood of forged
    requests must not turn into a flood of writes), a log line either way."""
    c, addr = ctx(), remote_addr()
    log.warning("twilio %s from %s refused: %s", request.path, addr, reason)
    limiter: LoginLimiter = current_app.extensions[AUDIT_LIMIT]
    if not limiter.blocked(addr):
        limiter.failed(addr)
        try:
            with c.runtime.sessions.begin() as s:
                store.audit(
                    s, "twilio_refused", at=c.now(), target=request.path[:64],
                    detail=reason[:200], addr=addr,
                )  # fmt: skip
        except Exception:  # the database is down: the refusal stands, the log has it
            log.exception("twilio %s: the audit entry could not be written", request.path)
    return Response("forbidden\n", 403, mimetype="text/plain")


def _xml(text: str) -> Response:
    return Response(text, 200, mimetype=XML)


def _call_sid() -> str:
    return text_param("CallSid", 34, source=request.form, pattern=CALL_SID) or _missing("CallSid")


def _missing(name: str) -> str:
    raise ParamError(name, gettext("is required"))


def _number(name: str) -> str:
    """A caller or called number: E.164 when it parses, else as given (anonymous, client:...);
    a withheld caller ID Twilio spelt in digits (+266696687) is its word."""
    text = phone.twilio_caller(text_param(name, MAX_NUMBER, source=request.form))
    region = ctx().runtime.config.site.region or None
    return phone.caller_key(text, region) if text else ""


def _state() -> str:
    return str(one("s") or "")


def _answer(uid: str, hook: str, work: Callable[[], str]) -> ResponseReturnValue:
    """TwiML from `work`; a refused state is a 403, any other failure the fallback TwiML
    (the operator, then voicemail): a caller never hears silence."""
    try:
        return _xml(work())
    except StateError as e:
        return _refused(str(e))
    except Exception:
        log.exception("twilio call %s: %s webhook failed: fallback", uid, hook)
        return _xml(_voice().fallback())


@bp.post("/voice")
def voice() -> ResponseReturnValue:
    v, uid = _voice(), _call_sid()
    caller, dialed = _number("From"), _number("To")
    return _answer(uid, "voice", lambda: v.voice(uid, caller, dialed))


@bp.post("/gather")
def gather() -> ResponseReturnValue:
    v, uid = _voice(), _call_sid()
    digits = text_param("Digits", 1, source=request.form)
    if digits and digits not in VALID_KEYS:
        raise ParamError("Digits", gettext("must be one of 0-9, * or #"))
    speech = text_param("SpeechResult", MAX_SPEECH, source=request.form)
    state = _state()
    return _answer(uid, "gather", lambda: v.gather(state, uid, digits, speech))


@bp.post("/dial")
def dial() -> ResponseReturnValue:
    v, uid = _voice(), _call_sid()
    status = choice_param("DialCallStatus", sorted(DIAL_STATUSES), None, request.form)
    duration = int_param("DialCallDuration", 0, MAX_DURATION, 0, request.form)
    state = _state()
    return _answer(uid, "dial", lambda: v.dial(state, uid, status, duration))


@bp.post("/status")
def status() -> ResponseReturnValue:
    v, uid = _voice(), _call_sid()
    report = StatusReport(
        uid=uid,
        caller=_number("From"),
        dialed=_number("To"),
        status=choice_param("CallStatus", sorted(CALL_STATUSES), None, request.form),
        at=_timestamp(v),
        duration_seconds=int_param("CallDuration", 0, MAX_DURATION, 0, request.form),
    )
    v.status(report)
    return Response("", 204)


def _timestamp(v: TwilioVoice) -> datetime:
    """Twilio's Timestamp (RFC 2822) when it parses and is within a day of our clock."""
    now = v.deps.clock()
    text = text_param("Timestamp", 64, source=request.form)
    if not text:
        return now
    try:
        at = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        raise ParamError("Timestamp", gettext("must be a date as RFC 2822 writes it")) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    if abs(at - now) > CLOCK_SKEW:
        raise ParamError("Timestamp", gettext("is more than a day away from the hotline's clock"))
    return at


@bp.post("/callback")
def callback() -> ResponseReturnValue:
    v, uid = _voice(), _call_sid()
    digits = text_param("Digits", MAX_KEYED, source=request.form, pattern=KEYED)
    state = _state()
    return _answer(uid, "callback", lambda: v.callback(state, uid, digits))


@bp.post("/end")
def end() -> ResponseReturnValue:
    v, uid, state = _voice(), _call_sid(), _state()
    return _answer(uid, "end", lambda: v.end(state, uid))


@bp.post("/goodbye")
def goodbye() -> ResponseReturnValue:
    """After the fallback's voicemail (no state: something had failed)."""
    return _xml(_voice().goodbye())
