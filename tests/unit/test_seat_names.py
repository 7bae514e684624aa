"""A seat is a PJSIP endpoint of its name (with <seat>-auth) and a SIP user Twilio's
legs dial: a name the rendered Asterisk config already uses for a section or an
extension of its own is refused in seats.yaml, naming the item."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from config_files import edit

from ivr.adapters.asterisk.templates import render_all
from ivr.bootstrap import asterisk_settings
from ivr.config import ConfigError, HotlineConfig, load_config
from ivr.config.hotline import RESERVED_SEAT_PREFIXES, RESERVED_SEAT_SUFFIXES, RESERVED_SEATS
from ivr.dialer.asterisk_conf import TEMPLATES


@pytest.mark.parametrize(
    "seat",
    ["anonymous", "Anonymous", "twilio", "twilio-identify", "global", "transport-udp",
     "customers", "trunk-carrier", "queue-enquiries", "seat2-auth"],
)  # fmt: skip
def test_a_seat_named_as_a_section_asterisk_already_has_is_refused(
    config_dir: Path, seat: str
) -> None:
    """A seat 'anonymous' made the endpoint every unknown caller lands on a seat's
    (context hotline-seats, the seats' password); 'twilio' took Twilio's legs;
    'queue-enquiries' gave Twilio's queue extension a second meaning."""
    edit(config_dir, "seats.yaml", "seat: seat1\n", f"seat: {seat}\n")
    with pytest.raises(ConfigError) as e:
        load_config(config_dir, env={})
    assert (e.value.file, e.value.item) == ("seats.yaml", "agents[0].seat")
    assert seat in e.value.reason


def test_the_reserved_names_are_the_renderers_own_sections(sample_config: HotlineConfig) -> None:
    """Every pjsip section that is no seat's is reserved: a new one added to the
    templates must be added to the list too."""
    out = render_all(asterisk_settings(sample_config))
    seats = {a.seat for a in sample_config.roster.agents}
    callbacks = Path(__file__).resolve().parents[2] / "config" / "asterisk"
    text = out["pjsip.conf"] + "".join(
        (callbacks / t).read_text(encoding="utf-8") for t in TEMPLATES if t.startswith("pjsip")
    )
    sections = set(re.findall(r"^\[([^\]]+)\]", text, re.M))
    for name in sections - seats - {f"{s}-auth" for s in seats}:
        assert (
            name in RESERVED_SEATS
            or name.startswith(RESERVED_SEAT_PREFIXES)
            or name.endswith(RESERVED_SEAT_SUFFIXES)
        ), name


@pytest.mark.parametrize("seat", ["seat-7", "front_desk", "auth", "anonymous2", "Queue1"])
def test_other_seat_names_are_taken(config_dir: Path, seat: str) -> None:
    edit(config_dir, "seats.yaml", "seat: seat1\n", f"seat: {seat}\n")
    assert load_config(config_dir, env={}).roster.agents[0].seat == seat
