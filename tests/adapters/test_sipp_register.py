"""Seats that register (lab.sipp.SharedSeats, what `hotline bench media` uses)
register with any password the hotline can generate (secrets.token_urlsafe).

A CI run lost the media bench to a generated password that began with "0x":
SIPp read it as hex, Asterisk refused every seat's digest and no seat
registered. Each password below is one such class: checked against the
sandbox's real Asterisk, which must hold a contact for every seat.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from ivr.adapters.asterisk.templates import settings_from_yaml_dir
from lab.bench.media import forget_registrations
from lab.sipp import SharedSeats
from lab.testing import running_sandbox

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
SEATS = ["seat1", "seat2"]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs root (chroot)"),
]


def test_seats_register_with_every_kind_of_generated_password() -> None:
    base = settings_from_yaml_dir(CONFIG_DIR)
    passwords = [
        "0x41424344abcdefZ-_q9",  # SIPp's hex prefix
        "0X41424344abcdefZ-_q9",
        "-leading-dash_0x41",
        "_leading_underscore",
        "0",  # the shortest
        "Zz09-_" * 8,  # longer than token_urlsafe(24)
    ]
    registered = {}
    for password in passwords:
        settings = dataclasses.replace(base, seat_contacts="register", seat_password=password)
        with running_sandbox(settings) as box:
            try:
                with SharedSeats(settings, processes=1, seats=SEATS):
                    contacts = box.rx("pjsip show contacts")
                    registered[password] = [s for s in SEATS if f"{s}/sip:{s}@" in contacts]
            finally:
                forget_registrations(box)
    assert registered == {password: SEATS for password in passwords}
