"""A stand-in for Twilio's side of the webhooks, over real HTTP: it signs each request
with the auth token exactly as Twilio does (the `twilio` package's RequestValidator
over the public URL and the form fields), follows the action URLs of the TwiML it
gets back, and parses that TwiML."""

from __future__ import annotations

import http.client
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator
from twiml_schema import check_twiml

CALL_SID = "CA" + "0123456789abcdef" * 2
PUBLIC = "https://hotline.example.com/hl"  # where the proxy publishes the hotline
TOKEN = "test-token"  # noqa: S105


@dataclass
class Reply:
    status: int
    body: str

    @property
    def xml(self) -> ET.Element:
        """The TwiML, checked against the verbs and attributes Twilio documents."""
        assert self.status == 200, (self.status, self.body[:300])
        return check_twiml(self.body)

    def first(self, verb: str) -> ET.Element:
        found = self.xml.find(f".//{verb}")
        assert found is not None, f"no <{verb}> in {self.body}"
        return found


@dataclass
class TwilioPhone:
    """Twilio posting to a hotline that is published at `public_base` (a reverse proxy)
    and reached here at 127.0.0.1:`port`."""

    port: int
    public_base: str
    token: str
    sent: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def sign(self, url: str, fields: dict[str, str]) -> str:
        return str(RequestValidator(self.token).compute_signature(url, fields))

    def post(self, url: str, fields: dict[str, str], *, signature: str | None = None) -> Reply:
        """POST `fields` to the public `url` (signed unless `signature` is given)."""
        assert url.startswith(self.public_base), url
        inner = url[len(self.public_base) :]  # the proxy strips the public prefix
        sig = self.sign(url, fields) if signature is None else signature
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if sig:
            headers["X-Twilio-Signature"] = sig
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            conn.request("POST", inner, urlencode(fields), headers)
            resp = conn.getresponse()
            body = resp.read().decode("utf-8", errors="replace")
        finally:
            conn.close()
        self.sent.append((url, fields))
        return Reply(resp.status, body)

    def call(self, caller: str = "+8613800000101", sid: str = CALL_SID) -> Reply:
        return self.post(
            f"{self.public_base}/twilio/voice",
            {"CallSid": sid, "From": caller, "To": "+14155550100", "CallStatus": "ringing"},
        )

    def answer(self, reply: Reply, sid: str = CALL_SID, **fields: str) -> Reply:
        """Post to the action of the reply's <Gather> (or <Dial>, <Record>)."""
        for verb in ("Gather", "Dial", "Record"):
            node = reply.xml.find(f".//{verb}")
            if node is not None and node.get("action"):
                return self.post(node.get("action", ""), {"CallSid": sid, **fields})
        raise AssertionError(f"no action URL in {reply.body}")
