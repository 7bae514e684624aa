"""The `twilio:` section of hotline.yaml, the menu's `speech:` phrases and the Twilio auth
token (environment or a 0600 file), validated before the first call and by check-config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from config_files import edit

from cli.main import main
from ivr.config import ConfigError, load_config
from ivr.config.twilio import TOKEN_FILE, auth_token

SID = 'account_sid: "AC00000000000000000000000000000000"'


def test_the_sample_section_loads(config_dir: Path) -> None:
    t = load_config(config_dir, env={}).twilio
    assert t is not None
    assert t.numbers == ("+14155550100",) and t.sip_domain == "pbx.example.com"
    assert t.speech_tag("zh-CN") == "cmn-Hans-CN" and t.say_tag("zh-CN") == "zh-CN"
    assert t.say_tag("en") == "en-US" and t.refuse_prefixes == ("+86",)
    assert t.refusal("+8613800000001") is not None and t.refusal("+14155550123") is None
    assert t.auth_token == ""  # never from YAML


def test_without_the_section_there_is_no_twilio(config_dir: Path) -> None:
    text = (config_dir / "hotline.yaml").read_text(encoding="utf-8")
    (config_dir / "hotline.yaml").write_text(text[: text.index("\n# Optional: the same hotline")])
    assert load_config(config_dir, env={}).twilio is None


@pytest.mark.parametrize(
    ("old", "new", "item", "reason"),
    [
        (SID, 'account_sid: "AC123"', "twilio.account_sid", "32 lower-case"),
        (SID, 'account_sid: "SK00000000000000000000000000000000"', "twilio.account_sid", "AC"),
        (SID, f"{SID}\n  auth_token: abc", "twilio.auth_token", "HOTLINE_TWILIO_AUTH_TOKEN"),
        ('numbers: ["+14155550100"]', "numbers: []", "twilio.numbers", "at least one"),
        ('numbers: ["+14155550100"]', 'numbers: ["12"]', "twilio.numbers[0]", ""),
        ("base_url: http://127.0.0.1:8080", "base_url: ftp://x", "twilio.base_url", "http"),
        ("base_url: http://127.0.0.1:8080", "base_url: https://h/?a=1", "twilio.base_url", "query"),
        ("base_url: http://127.0.0.1:8080", "base_url: https://u@h", "twilio.base_url", "user"),
        ("base_url: http://127.0.0.1:8080", "base_url: http://h:99999", "twilio.base_url", "URL"),
        ("sip_domain: pbx.example.com", "sip_domain: pbx example", "twilio.sip_domain", "host"),
        (
            "say_languages: {en: en-US}",
            "say_languages: {fr: fr-FR}",
            "twilio.say_languages.fr",
            "site.languages",
        ),  # fmt: skip
        (
            "say_languages: {en: en-US}",
            "say_languages: {en: 'en US'}",
            "twilio.say_languages.en",
            "language tag",
        ),  # fmt: skip
        ("record_seconds: 120", "record_seconds: 0", "twilio.record_seconds", "at least 1"),
        ("record_seconds: 120", "record_seconds: 99999", "twilio.record_seconds", "3600"),
        ("dialer: false", "dialer: maybe", "twilio.dialer", "true or false"),
        (
            'refuse_prefixes: ["+86"]',
            'refuse_prefixes: ["86"]',
            "twilio.refuse_prefixes[0]",
            "'+'",
        ),  # fmt: skip
        ("record_seconds: 120", "record_seconds: 120\n  recrd: 1", "twilio.recrd", "unknown key"),
    ],
)
def test_a_bad_twilio_section_is_refused_naming_the_item(
    config_dir: Path, old: str, new: str, item: str, reason: str
) -> None:
    _refused(config_dir, "hotline.yaml", old, new, item, reason)


def _refused(config_dir: Path, file: str, old: str, new: str, item: str, reason: str) -> None:
    edit(config_dir, file, old, new)
    with pytest.raises(ConfigError) as info:
        load_config(config_dir, env={})
    assert info.value.file == file
    assert info.value.item == item and reason in info.value.reason


@pytest.mark.parametrize(
    ("old", "new", "item", "reason"),
    [
        (
            '      en:\n        "1": [enquiry',
            '      fr:\n        "1": [enquiry',
            "nodes.main.speech.fr",
            "site.languages",
        ),  # fmt: skip
        ('"3": [repair, repairs]', '"7": [repair]', "nodes.main.speech.en.7", "not an option"),
        ('"2": [complaint, complain]', '"2": [""]', "nodes.main.speech.en.2[0]", "1 to 100"),
        (
            '"2": [complaint, complain]',
            f'"2": ["{"x" * 101}"]',
            "nodes.main.speech.en.2[0]",
            "1 to 100",
        ),  # fmt: skip
        ('"2": [complaint, complain]', '"2": {a: b}', "nodes.main.speech.en.2", "text"),
        # vosk's own tokens: <eps> aborted the recogniser, [unk] would match any noise
        ('"2": [complaint, complain]', '"2": ["<eps>"]', "nodes.main.speech.en.2[0]", "tokens"),
        ('"2": [complaint, complain]', '"2": [bill, "[unk]"]', "nodes.main.speech.en.2[1]",
         "tokens"),
        # one phrase under two keys: the recogniser could only ever pick one
        # (the later one is named, with the key that has it first)
        ('"2": [complaint, complain]', '"2": [complaint, Repair]', "nodes.main.speech.en.3[0]",
         "of key '2' too"),
        ('"2": [complaint, complain]', '"2": [complaint, "  call   BACK "]',
         "nodes.main.speech.en.9[0]", "of key '2' too"),
        # the same phrase as matched (without case, spaces or punctuation): "call-back"
        # took every "call back" said, key 9's phrase never chosen
        ('"2": [complaint, complain]', '"2": [complaint, "Call-Back!"]',
         "nodes.main.speech.en.9[0]", "of key '2' too"),
        # no letter or digit: nothing said could ever match it
        ('"2": [complaint, complain]', '"2": [complaint, "?!"]', "nodes.main.speech.en.2[1]",
         "no letter or digit"),
    ],
)  # fmt: skip
def test_bad_speech_phrases_are_refused(
    config_dir: Path, old: str, new: str, item: str, reason: str
) -> None:
    _refused(config_dir, "menu.yaml", old, new, item, reason)


def test_phrases_map_to_keys(config_dir: Path) -> None:
    node = load_config(config_dir, env={}).menu.node("main")
    assert node.key_for_speech("zh-CN", "我想报修一下") == "3"
    assert node.key_for_speech("en", "CALL BACK please") == "9"
    assert node.key_for_speech("en", "") is None
    assert "投诉" in node.hints("zh-CN") and node.hints("fr") == ()


# --- the auth token -------------------------------------------------------------------------


def test_the_token_comes_from_the_environment_first(tmp_path: Path) -> None:
    assert auth_token({"HOTLINE_TWILIO_AUTH_TOKEN": " tok "}, tmp_path) == "tok"
    assert auth_token({}, tmp_path) == ""  # none: the webhooks answer 503


def test_the_token_file_must_be_0600(tmp_path: Path) -> None:
    path = tmp_path / TOKEN_FILE
    path.parent.mkdir(parents=True)
    path.write_text("file-token\n")
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="0600"):
        auth_token({}, tmp_path)
    os.chmod(path, 0o600)
    assert auth_token({}, tmp_path) == "file-token"


@pytest.mark.parametrize("bad", ["tok\x00en", "tök", "x" * 129])
def test_a_token_that_is_not_printable_ascii_is_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigError, match="ASCII"):
        auth_token({"HOTLINE_TWILIO_AUTH_TOKEN": bad}, tmp_path)


def test_check_config_reports_the_twilio_section_and_refuses_a_loose_token_file(
    clean_env: pytest.MonkeyPatch, config_dir: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    data = tmp_path / "var"
    clean_env.setenv("HOTLINE_DATA_DIR", str(data))
    assert main(["check-config", "--config", str(config_dir)]) == 0
    assert "auth token MISSING" in capsys.readouterr().out
    clean_env.setenv("HOTLINE_TWILIO_AUTH_TOKEN", "test-token")
    assert main(["check-config", "--config", str(config_dir)]) == 0
    assert "twilio: http://127.0.0.1:8080/twilio/voice" in capsys.readouterr().out
    clean_env.delenv("HOTLINE_TWILIO_AUTH_TOKEN")
    (data / "secrets").mkdir(parents=True)
    (data / TOKEN_FILE).write_text("t")
    os.chmod(data / TOKEN_FILE, 0o640)
    assert main(["check-config", "--config", str(config_dir)]) == 2
    assert "0600" in capsys.readouterr().err
