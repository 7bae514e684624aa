"""The callback templates (extensions_callbacks.conf, pjsip_callbacks.conf), rendered.

Rendered with the same `@{name}` templates as the rest of config/asterisk/
(`ivr.adapters.asterisk.templates`), from `DialerSettings` and the names in
`protocol.py`. `install_into` writes them next to a rendered configuration and
adds the `#include` lines, until the lead's renderer lists them itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from ivr.adapters.asterisk.errors import TemplateError
from ivr.adapters.asterisk.templates import name_values, render_files
from ivr.adapters.files import write_private
from ivr.config.callbacks import DialerSettings
from ivr.dialer import protocol

TEMPLATES = ("extensions_callbacks.conf", "pjsip_callbacks.conf")
INCLUDES = {"extensions.conf": "extensions_callbacks.conf", "pjsip.conf": "pjsip_callbacks.conf"}
_DIAL_RE = re.compile(r"^[A-Za-z0-9/@._{}+-]+$")
_HOST_RE = re.compile(r"^[A-Za-z0-9.-]+$")


def extra_values(dialer: DialerSettings) -> dict[str, str]:
    """What the callback templates need beyond names.py: the protocol.py names and the
    dialer settings. Pass as `AsteriskSettings(extra=...)` once the lead's renderer
    lists the callback templates in TEMPLATE_FILES."""
    if not _DIAL_RE.match(dialer.customer_dial) or "{number}" not in dialer.customer_dial:
        raise TemplateError(f"customer_dial {dialer.customer_dial!r} is not a plain dial string")
    if not _HOST_RE.match(dialer.trunk_host):
        raise TemplateError(f"trunk_host {dialer.trunk_host!r} is not a host name")
    values = {
        key.lower(): str(value)
        for key, value in vars(protocol).items()
        if key.isupper() and isinstance(value, str)
    }
    values.update(
        customer_dial=dialer.customer_dial.replace("{number}", "${number}"),
        customer_ring_seconds=str(dialer.customer_ring_seconds),
        callback_caller_id=dialer.caller_id,
        customer_host=dialer.trunk_host,
        customer_port=str(dialer.trunk_port),
    )
    return values


def template_values(dialer: DialerSettings) -> dict[str, str]:
    """Placeholder values: names.py names plus `extra_values`."""
    return name_values() | extra_values(dialer)


def render(dialer: DialerSettings, template_dir: Path | None = None) -> dict[str, str]:
    return render_files(TEMPLATES, template_values(dialer), template_dir)


def with_callbacks(files: Mapping[str, str], dialer: DialerSettings) -> dict[str, str]:
    """The rendered hotline files plus the callback ones, included: what `install_into`
    leaves in a directory, as text (a reload compares it with what is there)."""
    out = dict(files) | render(dialer)
    for host, included in INCLUDES.items():
        line = f"#include {included}"
        if host in out and line not in out[host]:
            out[host] = out[host].rstrip("\n") + f"\n\n{line}\n"
    return out


def install_into(config_dir: Path, dialer: DialerSettings) -> list[Path]:
    """Write the rendered callback files into an Asterisk config directory and make
    extensions.conf / pjsip.conf include them (once)."""
    written = []
    for name, text in render(dialer).items():
        written.append(write_private(config_dir / name, text))
    for host, included in INCLUDES.items():
        path = config_dir / host
        text = path.read_text(encoding="utf-8")
        line = f"#include {included}"
        if line not in text:
            write_private(path, text.rstrip("\n") + f"\n\n{line}\n")
    return written
