"""X-Twilio-Signature, checked with the `twilio` package's RequestValidator.

Twilio signs the URL it called (scheme, host, path and query) and the POST fields.
Behind a reverse proxy the Host header and the scheme we see are the proxy's
inner ones, so the URL is rebuilt from the configured public base URL
(`twilio.base_url`), never from the request's Host.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from twilio.request_validator import RequestValidator

HEADER: Final = "X-Twilio-Signature"
MAX_SIGNATURE_CHARS: Final = 200  # base64 of an HMAC-SHA1 (28) or SHA-256 (44), and then some


def public_url(base_url: str, path: str, query: str) -> str:
    """The URL Twilio called: the public base, the path below it, the raw query."""
    return f"{base_url}{path}" + (f"?{query}" if query else "")


def verified(token: str, url: str, params: Mapping[str, Any], signature: str) -> bool:
    """Whether `signature` is Twilio's for this URL and these form fields under `token`."""
    if not token or not signature or len(signature) > MAX_SIGNATURE_CHARS:
        return False
    if not signature.isascii():
        return False  # hmac.compare_digest refuses non-ASCII str: a forgery, not an error
    return bool(RequestValidator(token).validate(url, params, signature))
