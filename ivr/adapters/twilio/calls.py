"""The dialer's Twilio backend: Calls API through the `twilio` package's REST client.

Agent first, as over Asterisk: the call is created to the agent's seat
(`sip:<seat>@<sip_domain>`), and its TwiML, once the agent answers, dials the
customer (`<Dial><Number>`). The attempt's result is read back from the call and
its child leg (the customer's): the agent leg not answered -> agent unavailable;
the customer's leg busy / no-answer / completed -> busy / no answer / answered.

Numbers the backend refuses (`twilio.refuse_prefixes`, +86 by default: Twilio
stopped calls to Mainland China in November 2023) raise `CallRefusedError` with the
reason, before any request; the Asterisk dialer dials them through its trunk.

Retries: `RetryingHttpClient` retries a 429 and a 503 (nothing was done) on any
request, with the server's Retry-After or a doubling back-off; other 5xx only on
GET, because a POST that failed half-way may have created a call, and a callback
must never ring a customer twice.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from requests import RequestException
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from ivr.config.twilio import TwilioSettings
from ivr.domain.callbacks import AttemptOutcome
from ivr.domain.text import squeezed

log = logging.getLogger(__name__)

API_BASE: Final = "https://api.twilio.com"
FINAL: Final = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
CUSTOMER_LEG: Final = {
    "completed": AttemptOutcome.ANSWERED,
    "busy": AttemptOutcome.BUSY,
    "no-answer": AttemptOutcome.NO_ANSWER,
    "failed": AttemptOutcome.FAILED,
    "canceled": AttemptOutcome.NO_ANSWER,  # the agent gave up while the customer rang
}
MAX_RETRY_AFTER: Final = 30.0
# The longest a created call may last, sent with it (Twilio's own default
# TimeLimit, said explicitly): past it Twilio has ended the call, so an attempt
# whose end could not be read by then is over (see CallbackCall.over_after).
TIME_LIMIT_SECONDS: Final = 4 * 3600
SETTLE_SECONDS: Final = 300  # for Twilio to report a call it has ended


# What else a request can end in: the connection refused, reset or timed out
# (requests), or an answer that is no JSON, or not the object the package expects.
UNANSWERED: Final = (RequestException, ValueError, KeyError, TypeError, AttributeError)
CALL_SID: Final = re.compile(r"CA[0-9a-f]{32}")


def _said(e: BaseException) -> str:
    """An exception as one bounded line of an attempt's detail."""
    text = squeezed(str(e), 200)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


class TwilioCallsError(Exception):
    """The Calls API could not place or read a call; `status` is the HTTP status (0: none)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class CallRefusedError(TwilioCallsError):
    """This backend does not call the number (the reason says why and what instead)."""


class RetryingHttpClient(TwilioHttpClient):  # type: ignore[misc]  # twilio: no py.typed
    """The package's HTTP client with retries (see the module docstring); `api_base`
    points it at another server (a test's stand-in for api.twilio.com)."""

    def __init__(
        self,
        api_base: str = API_BASE,
        retries: int = 3,
        backoff_seconds: float = 0.5,
        timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(timeout=timeout)
        self.api_base, self.retries, self.backoff = api_base.rstrip("/"), retries, backoff_seconds
        self._sleep = sleep
        self.attempts = 0  # requests sent, retries included

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if url.startswith(API_BASE):
            url = self.api_base + url[len(API_BASE) :]
        for attempt in range(self.retries + 1):
            self.attempts += 1
            response = super().request(method, url, *args, **kwargs)
            code = response.status_code
            again = code in (429, 503) or (method.upper() == "GET" and code >= 500)
            if not again or attempt == self.retries:
                return response
            wait = self._retry_after(response, attempt)
            log.warning("twilio %s %s: HTTP %s, retry in %.1f s", method, url, code, wait)
            self._sleep(wait)
        raise AssertionError("unreachable")

    def _retry_after(self, response: Response, attempt: int) -> float:
        given = str((response.headers or {}).get("Retry-After", ""))
        try:
            seconds = float(given)
        except ValueError:
            seconds = math.nan
        if not math.isfinite(seconds):  # absent, an HTTP date, "soon", nan, inf: our back-off
            seconds = float(self.backoff * 2**attempt)
        return min(MAX_RETRY_AFTER, max(0.0, seconds))


@dataclass(frozen=True)
class CallbackCall:
    """One attempt: ring `seat` (agent first), then `number`."""

    action_id: str
    seat: str
    number: str  # E.164
    agent_ring_seconds: int
    customer_ring_seconds: int

    def over_after(self) -> float:
        """Seconds after its creation by which Twilio has surely ended the call: both
        rings (generously: the customer's rings inside the call's time), the call's
        time limit (the customer's leg ends with it), and time for Twilio to say so.
        An end still unread by then is unknown."""
        rings = self.agent_ring_seconds + self.customer_ring_seconds
        return rings + TIME_LIMIT_SECONDS + SETTLE_SECONDS


class TwilioCalls:
    def __init__(self, settings: TwilioSettings, client: Client) -> None:
        self.settings = settings
        self.client = client

    def agent_first_twiml(self, number: str, ring_seconds: int) -> str:
        """What the agent's leg runs once answered: dial the customer."""
        r = VoiceResponse()
        r.dial(caller_id=self.settings.numbers[0], timeout=ring_seconds).number(number)
        return str(r.to_xml())

    def place(self, call: CallbackCall) -> str:
        """Create the call; its SID. Raises CallRefusedError or TwilioCallsError."""
        reason = self.settings.refusal(call.number)
        if reason is not None:
            raise CallRefusedError(reason)
        twiml = self.agent_first_twiml(call.number, call.customer_ring_seconds)
        try:
            created = self.client.calls.create(
                to=f"sip:{call.seat}@{self.settings.sip_domain}",
                from_=self.settings.numbers[0],
                twiml=twiml,
                timeout=call.agent_ring_seconds,
                time_limit=TIME_LIMIT_SECONDS,
            )
        except TwilioRestException as e:
            raise TwilioCallsError(f"Calls API: HTTP {e.status}: {e.msg}", e.status) from None
        except (TwilioException, *UNANSWERED) as e:
            raise TwilioCallsError(f"Calls API: {_said(e)}") from None
        sid = getattr(created, "sid", None)
        if not isinstance(sid, str) or not CALL_SID.fullmatch(sid):
            # a 2xx without a call to follow: as a failed create (never polled for ever)
            raise TwilioCallsError("Calls API: the answer names no call (no call SID)")
        return sid

    def outcome(self, sid: str) -> AttemptOutcome | None:
        """How the attempt ended, or None while it runs."""
        try:
            parent = self.client.calls(sid).fetch()
            if parent.status not in FINAL:
                return None
            if parent.status != "completed":
                return AttemptOutcome.AGENT_UNAVAILABLE  # the agent's leg was not answered
            legs = self.client.calls.list(parent_call_sid=sid, limit=5)
        except TwilioRestException as e:
            raise TwilioCallsError(f"Calls API: HTTP {e.status}: {e.msg}", e.status) from None
        except (TwilioException, *UNANSWERED) as e:
            raise TwilioCallsError(f"Calls API: {_said(e)}") from None
        if not legs:
            return AttemptOutcome.AGENT_UNAVAILABLE  # the agent hung up before the customer rang
        return CUSTOMER_LEG.get(str(legs[0].status), AttemptOutcome.FAILED)


def rest_client(settings: TwilioSettings, http: TwilioHttpClient | None = None) -> Client:
    """The package's REST client on our retrying HTTP client."""
    return Client(
        settings.account_sid, settings.auth_token, http_client=http or RetryingHttpClient()
    )
