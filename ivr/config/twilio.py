"""The optional `twilio:` section of hotline.yaml: the same hotline through Twilio.

```yaml
twilio:
  account_sid: AC0123456789abcdef0123456789abcdef
  numbers: ["+14155550100"]        # the Twilio numbers (the first is the outbound caller ID)
  base_url: https://hotline.example.com   # the public URL Twilio calls (the proxy's, not ours)
  sip_domain: pbx.example.com      # <Dial><Sip>: sip:<seat or queue-branch>@<sip_domain>
  say_languages: {en: en-US}       # hotline language -> <Say language> (default: the same)
  speech_languages: {zh-CN: cmn-Hans-CN, en: en-US}   # -> <Gather language> (speech)
  record_seconds: 120              # longest voicemail
  dialer: false                    # callbacks through Twilio's REST API as well
  refuse_prefixes: ["+86"]         # numbers that backend refuses (Asterisk trunk instead)
  sip_source_ips: ["54.172.60.0/30"]  # where Twilio's SIP legs come from (its signalling IPs)
```

With `sip_source_ips`, the hotline's Asterisk takes Twilio's <Dial><Sip> legs from
those addresses only: `sip:queue-<branch>@` joins that branch's queue, `sip:<seat>@`
rings that seat; any other user part is refused (404).

The auth token is never in YAML: `HOTLINE_TWILIO_AUTH_TOKEN`, else the file
`<data dir>/secrets/twilio-auth-token`, which must be mode 0600 (`auth_token`).
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from ivr import phone
from ivr.config.errors import ConfigError
from ivr.config.reader import Cursor

ENV_TWILIO_AUTH_TOKEN: Final = "HOTLINE_TWILIO_AUTH_TOKEN"  # noqa: S105 (a variable's name)
TOKEN_FILE: Final = "secrets/twilio-auth-token"  # noqa: S105 (a file's name)
MAX_TOKEN_CHARS: Final = 128
_SID: Final = re.compile(r"AC[0-9a-f]{32}")
_HOST: Final = re.compile(r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62}\.)*[A-Za-z0-9-]{1,63}")
_TAG: Final = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}")
_PREFIX: Final = re.compile(r"\+[0-9]{1,6}")
SIP_QUEUE_PREFIX: Final = "queue-"  # sip:queue-<branch>@<sip_domain> reaches that queue
MAX_SOURCES: Final = 64
# The widest network `sip_source_ips` may list (IPv4, IPv6): Twilio's signalling ranges
# are far narrower, and a wider one lets unauthenticated SIP from anywhere in.
WIDEST_SOURCE: Final = {4: 8, 6: 32}


@dataclass(frozen=True)
class TwilioSettings:
    account_sid: str
    numbers: tuple[str, ...]
    base_url: str  # scheme://host[:port][/path], no trailing slash
    sip_domain: str
    say_languages: Mapping[str, str] = field(default_factory=dict)
    speech_languages: Mapping[str, str] = field(default_factory=dict)
    record_seconds: int = 120
    dialer: bool = False
    refuse_prefixes: tuple[str, ...] = ("+86",)
    # Networks Twilio's SIP legs come from (CIDR): Asterisk takes <Dial><Sip> from
    # these only. Empty: no Twilio SIP ingress is configured.
    sip_sources: tuple[str, ...] = ()
    auth_token: str = field(default="", repr=False)  # never from YAML: bootstrap fills it in

    def say_tag(self, language: str) -> str:
        """<Say language> for a hotline language (unmapped: the same tag)."""
        return self.say_languages.get(language, language)

    def speech_tag(self, language: str) -> str:
        """<Gather language> (speech recognition) for a hotline language."""
        return self.speech_languages.get(language, language)

    def refusal(self, number: str) -> str | None:
        """Why the Twilio backend will not call `number` (E.164), or None."""
        prefix = next((p for p in self.refuse_prefixes if number.startswith(p)), None)
        if prefix is None:
            return None
        return (
            f"Twilio does not place calls to {prefix} numbers: dial them through the Asterisk trunk"
        )


def parse_twilio(c: Cursor, languages: tuple[str, ...], region: str) -> TwilioSettings | None:
    """The validated section, or None when hotline.yaml has none."""
    if c.data is None:
        return None
    if isinstance(c.data, dict) and "auth_token" in c.data:
        raise c.child("auth_token").fail(
            f"secrets do not belong in committed config: set {ENV_TWILIO_AUTH_TOKEN} "
            f"or put the token in <data directory>/{TOKEN_FILE} (mode 0600)"
        )
    sid = c.child("account_sid")
    if not _SID.fullmatch(sid.text()):
        raise sid.fail("an account SID is AC followed by 32 lower-case hexadecimal digits")
    numbers = []
    for n in c.child("numbers").seq():
        try:
            numbers.append(phone.canonical(n.text(), region or None))
        except phone.NumberError as e:
            raise n.fail(str(e)) from None
    if not numbers:
        raise c.child("numbers").fail("at least one Twilio number is needed")
    domain = c.child("sip_domain")
    if not _HOST.fullmatch(domain.text()):
        raise domain.fail(f"{domain.data!r} is not a host name")
    prefixes = tuple(p.text() for p in c.opt("refuse_prefixes", ["+86"]).seq())
    for i, p in enumerate(prefixes):
        if not _PREFIX.fullmatch(p):
            raise c.child("refuse_prefixes").child(i).fail(f"{p!r} is not '+' and 1 to 6 digits")
    record = c.opt("record_seconds", 120)
    seconds = record.integer(1)
    if seconds > 3600:
        raise record.fail("at most 3600 seconds (Twilio's limit for <Record>)")
    return TwilioSettings(
        account_sid=sid.text(),
        numbers=tuple(numbers),
        base_url=_base_url(c.child("base_url")),
        sip_domain=domain.text(),
        say_languages=_tags(c.opt("say_languages", {}), languages),
        speech_languages=_tags(c.opt("speech_languages", {}), languages),
        record_seconds=seconds,
        dialer=c.opt("dialer", False).boolean(),
        refuse_prefixes=prefixes,
        sip_sources=_sources(c.opt("sip_source_ips", [])),
    )


def _sources(c: Cursor) -> tuple[str, ...]:
    """Networks in CIDR form (an address alone is its /32 or /128)."""
    items = c.seq()
    if len(items) > MAX_SOURCES:
        raise c.fail(f"at most {MAX_SOURCES} networks")
    nets = []
    for item in items:
        try:
            net = ipaddress.ip_network(item.text(), strict=False)
        except ValueError:
            raise item.fail(f"{item.data!r} is not an IP network such as 54.172.60.0/30") from None
        widest = WIDEST_SOURCE[net.version]
        if net.prefixlen < widest:  # 0.0.0.0/0: anyone on the Internet rings seats and queues
            raise item.fail(
                f"{net} is wider than /{widest}: list Twilio's signalling networks only"
            )
        nets.append(str(net))
    return tuple(nets)


def _tags(c: Cursor, languages: tuple[str, ...]) -> dict[str, str]:
    """{hotline language: Twilio's BCP 47 tag}."""
    tags: dict[str, str] = {}
    for lang, tag in c.items():
        if lang not in languages:
            raise tag.fail(f"language {lang!r} is not in site.languages")
        if not _TAG.fullmatch(tag.text()):
            raise tag.fail(f"{tag.data!r} is not a language tag such as en-US")
        tags[lang] = tag.text()
    return tags


def _base_url(c: Cursor) -> str:
    """The public URL Twilio calls: http(s), a host, an optional path; no query or fragment."""
    text = c.text().strip().rstrip("/")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise c.fail(f"{c.data!r} is not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise c.fail(f"{c.data!r} must be an http:// or https:// URL with a host")
    if parts.query or parts.fragment or parts.username or port == 0:
        raise c.fail(f"{c.data!r} must have no query, fragment or user name")
    if any(ch.isspace() for ch in text) or not text.isascii():
        raise c.fail(f"{c.data!r} must be plain ASCII without spaces")
    return text


def auth_token(env: Mapping[str, str], data_dir: Path) -> str:
    """The Twilio auth token: the environment's, else the 0600 file's; '' when neither.

    A token file readable by others, or a token that is not printable ASCII, is refused.
    """
    value = env.get(ENV_TWILIO_AUTH_TOKEN, "").strip()
    source = ENV_TWILIO_AUTH_TOKEN
    if not value:
        path = data_dir / TOKEN_FILE
        try:
            st = path.stat()
        except FileNotFoundError:
            return ""
        except OSError as e:  # the data directory is a file, say: named, not a traceback
            raise ConfigError(str(path), "", f"cannot be read: {e.strerror or e}") from None
        if stat.S_IMODE(st.st_mode) & 0o077 or st.st_uid != os.getuid():
            raise ConfigError(str(path), "", "must be mode 0600 and owned by the hotline's user")
        try:
            value, source = path.read_text(encoding="utf-8", errors="replace").strip(), str(path)
        except OSError as e:
            raise ConfigError(str(path), "", f"cannot be read: {e.strerror or e}") from None
    if not (value.isascii() and value.isprintable()) or len(value) > MAX_TOKEN_CHARS:
        raise ConfigError(
            source, "", f"the auth token must be 1 to {MAX_TOKEN_CHARS} ASCII characters"
        )
    return value
