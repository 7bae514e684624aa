"""TwiML documents, built with the `twilio` package's VoiceResponse. Pure: text in, XML out.

Only verbs and attributes of Twilio's TwiML reference are used (tests/unit/test_twiml.py
checks every document against that list): <Gather input="speech dtmf"> with the menu's
prompts as <Say> and its spoken phrases as hints, <Dial><Sip> or <Dial><Number>,
<Record> for voicemail, <Say>, <Hangup>.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from twilio.twiml.voice_response import VoiceResponse

E164_PREFIX = "+"


@dataclass(frozen=True)
class Spoken:
    """Texts to say, in one Twilio language tag."""

    texts: tuple[str, ...]
    tag: str


def _say(parent: VoiceResponse, spoken: Spoken) -> None:
    for text in spoken.texts:
        if text:
            parent.say(text, language=spoken.tag)


def gather(
    spoken: Spoken,
    speech_tag: str,
    action_url: str,
    timeout_seconds: float,
    hints: Sequence[str],
) -> str:
    """One menu question: the prompts, then one key or a phrase; no input posts anyway.

    `finishOnKey` is empty: one key ends the question, whichever it is, and '#' is a
    key like any other (an option, or a wrong key), as on the Asterisk path; with
    Twilio's default '#' it would post as no input at all.
    """
    r = VoiceResponse()
    g = r.gather(
        input="speech dtmf",
        action=action_url,
        method="POST",
        num_digits=1,
        timeout=max(1, round(timeout_seconds)),
        speech_timeout="auto",
        language=speech_tag,
        action_on_empty_result=True,
        finish_on_key="",
        hints=", ".join(hints) if hints else None,
    )
    _say(g, spoken)
    return str(r.to_xml())


def gather_number(spoken: Spoken, action_url: str, timeout_seconds: int) -> str:
    """Keys up to '#' (or a pause of `timeout_seconds`): the callback number's confirmation."""
    r = VoiceResponse()
    g = r.gather(
        input="dtmf",
        action=action_url,
        method="POST",
        timeout=timeout_seconds,
        finish_on_key="#",
        action_on_empty_result=True,
    )
    _say(g, spoken)
    return str(r.to_xml())


def dial(spoken: Spoken, target: str, action_url: str, timeout_seconds: int, caller_id: str) -> str:
    """Connect the caller: `target` is an E.164 number or a SIP URI."""
    r = VoiceResponse()
    _say(r, spoken)
    d = r.dial(
        action=action_url,
        method="POST",
        timeout=max(5, min(600, timeout_seconds)),
        caller_id=caller_id or None,
    )
    if target.startswith(E164_PREFIX):
        d.number(target)
    else:
        d.sip(target)
    return str(r.to_xml())


def record(spoken: Spoken, action_url: str, max_seconds: int) -> str:
    """Voicemail: the prompt, a beep, at most `max_seconds`, then the action URL."""
    r = VoiceResponse()
    _say(r, spoken)
    r.record(action=action_url, method="POST", max_length=max_seconds, play_beep=True)
    r.hangup()
    return str(r.to_xml())


def say_and_hang_up(spoken: Spoken) -> str:
    r = VoiceResponse()
    _say(r, spoken)
    r.hangup()
    return str(r.to_xml())


def fallback(spoken: Spoken, operator: str, voicemail_url: str, ring_seconds: int) -> str:
    """Something failed on our side: the operator queue, then voicemail; never silence."""
    r = VoiceResponse()
    _say(r, spoken)
    r.dial(timeout=max(5, ring_seconds)).sip(operator)
    r.record(action=voicemail_url, method="POST", max_length=120, play_beep=True)
    r.hangup()
    return str(r.to_xml())
