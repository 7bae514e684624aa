"""Phone numbers: one canonical form (E.164) at every entry, and lists that hold
against every form of a listed number (issue 9, class 7)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest
from callback_ledger import RecordingLedger
from config_files import edit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.main import main
from ivr import phone
from ivr.adapters.asterisk.handlers import caller_from_env
from ivr.app.callbacks import CallbackIntake, CallbackRefusedError
from ivr.config import ConfigError, HotlineConfig, load_config
from ivr.domain.routing import normalise_number
from ivr.phone import (
    MAX_CHARS,
    MAX_PREFIX_DIGITS,
    REASONS,
    NumberError,
    NumberProblem,
    caller_key,
    canonical,
    match_key,
    prefix_forms,
)

E164 = re.compile(r"\+[1-9][0-9]{6,14}")
DNC = "+8613700000000"  # config/callbacks.yaml do_not_call.numbers
VIP = "+8613800000001"  # config/routing.yaml vip.numbers

FULLWIDTH = str.maketrans("0123456789+", "０１２３４５６７８９＋")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
EXTENDED_ARABIC = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
DEVANAGARI = str.maketrans("0123456789", "०१२३४५६७८९")


def forms(national: str) -> list[str]:
    """The forms of one Chinese mobile number that every list must recognise."""
    a, b, c = national[:3], national[3:7], national[7:]
    return [
        national,
        f"+86 {a} {b} {c}",
        f"0086{national}",
        f"+86-{a}-{b}-{c}",
        f"+86{national}",
        f"(+86) {a}.{b}.{c}",
        f" {national}\t",
        national.translate(FULLWIDTH),
        f"+86{national}".translate(FULLWIDTH),
        national.translate(ARABIC_INDIC),
        national.translate(EXTENDED_ARABIC),
        f"0086{national}".translate(DEVANAGARI),
    ]


# --- canonical(): E.164 or NumberError, nothing else ---------------------------------


@pytest.mark.parametrize("form", forms("13700000000"))
def test_every_form_has_the_same_canonical_number(form: str) -> None:
    assert canonical(form, "CN") == DNC


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0", "not a phone number"),
        ("1" * 200, "longer than 64 characters"),
        ("9" * 40, "too long"),
        ("", "empty"),
        ("   ", "empty"),
        ("+999 1234 5678", "unknown country code"),
        ('138"; DROP', "only digits"),
        ("12345", "too short"),  # or local-only: never E.164 by itself
        ("+86 1", "too short"),
        ("13700000000 ext. 12", "only digits"),
        ("1370000\x000000", "only digits"),
    ],
)
def test_impossible_numbers_are_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(NumberError) as e:
        canonical(text, "CN")
    assert e.value.reason
    if reason != "too short":
        assert reason in e.value.reason
    assert "is not a phone number" in str(e.value)


@pytest.mark.parametrize(
    "text",
    [
        "13700000000#12",  # extensions: libphonenumber dropped them, a main number came out
        "+8613700000000;ext=12",
        "13700000000,12",
        "13700000000~12",
        "13700000000＃12",
        "137*0000*0000",  # a star: dropped, or joined to the digits
        "13700000000*5",
        "13700000000😀",  # symbols and punctuation after the number: dropped
        "13700000000!",
        "13700000000@",
        "137_0000_0000",
        "++8613700000000",  # '+' in odd places
        "86+13700000000",
        "+86 137+0000+0000",
    ],
)
def test_a_number_with_anything_but_digits_and_separators_is_refused(text: str) -> None:
    with pytest.raises(NumberError) as e:
        canonical(text, "CN")
    assert e.value.code is NumberProblem.NOT_DIGITS


@pytest.mark.parametrize(
    ("text", "region", "e164"),
    [
        ("(+86) 137 0000 0000", "CN", DNC),
        ("+86 (0) 137-0000-0000", "CN", DNC),
        ("+86–137–0000–0000", "CN", DNC),  # en dashes
        ("１３７－００００－００００", "CN", DNC),
        ("+86 137\u00a00000\u30000000", "CN", DNC),
        ("030/12345678", "DE", "+493012345678"),
        ("+1 [212] 555.0100", "US", "+12125550100"),
    ],
)
def test_separators_of_written_numbers_are_accepted(text: str, region: str, e164: str) -> None:
    assert canonical(text, region) == e164


def test_long_texts_are_answered_but_not_kept() -> None:
    """Call after call with a caller ID of kilobytes: the parse cache keeps none of them
    (65,536 such keys of 8 KB were half a gigabyte)."""
    before = dict(phone._parsed_cache)
    for n in range(200):
        text = f"{n:08d}" + "1" * 8000
        with pytest.raises(NumberError):
            canonical(text, "CN")
        assert caller_key(text, "CN") == text[:128]
    kept = set(phone._parsed_cache) - set(before)
    assert not any(len(number) > 2 * MAX_CHARS for number, _ in kept)
    assert canonical(" +86 137 0000 0000 ", "CN") == DNC  # ordinary ones still are
    assert (" +86 137 0000 0000 ", "CN") in phone._parsed_cache


def test_national_forms_need_a_region() -> None:
    with pytest.raises(NumberError, match="site.region"):
        canonical("13700000000", None)
    assert canonical("+8613700000000", None) == DNC


_REGIONS = st.sampled_from(["CN", "US", "GB", "DE", "IN", "SA", None])


def _check_code(e: NumberError) -> None:
    """A refusal carries a known code, the limit of the codes that have one, and the
    English reason of its code (what the CLI and the logs show)."""
    assert isinstance(e.code, NumberProblem)
    limits = {NumberProblem.TOO_MANY_CHARS: MAX_CHARS, NumberProblem.TOO_MANY_DIGITS: 20}
    assert e.limit == limits.get(e.code)
    assert e.reason == REASONS[e.code].format(limit=e.limit)
    assert str(e).endswith(f" is not a phone number: {e.reason}")


def _check_e164_or_number_error(text: str, region: str | None) -> None:
    try:
        out = canonical(text, region)
    except NumberError as e:
        assert e.reason
        _check_code(e)
        with pytest.raises(NumberError) as again:  # from the cache: the same code, anew
            canonical(text, region)
        assert (again.value.code, again.value.reason) == (e.code, e.reason)
        assert again.value is not e
        return
    assert E164.fullmatch(out), out
    assert canonical(out) == out  # canonical is a fixed point, without a region too
    assert normalise_number(out) == out


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=80), _REGIONS)
def test_any_text_gives_e164_or_a_number_error(text: str, region: str | None) -> None:
    _check_e164_or_number_error(text, region)


# Number-like text: digits of any script, separators, '+'/'00' prefixes, long runs.
_number_like = st.lists(
    st.one_of(
        st.characters(categories=["Nd"]),
        st.sampled_from(list("0123456789+＋ -.()/\u00a0\u2010\u3000")),
        st.sampled_from(["+86", "0086", "+1", "00", "+44 ", "011"]),
    ),
    max_size=40,
).map("".join)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_number_like, _REGIONS)
def test_number_like_text_gives_e164_or_a_number_error(text: str, region: str | None) -> None:
    _check_e164_or_number_error(text, region)


def test_the_lenient_keys() -> None:
    assert caller_key("13800000103", "CN") == "+8613800000103"
    assert caller_key("4000", "CN") == "4000"  # an extension stays as Asterisk gave it
    assert caller_key("anonymous", "CN") == "anonymous"
    assert match_key("４０００", "CN") == "4000"
    assert normalise_number("٤٠٠٠²") == "4000"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_number_like, st.text(max_size=80)), _REGIONS)
def test_prefix_forms_give_forms_or_a_coded_number_error(text: str, region: str | None) -> None:
    try:
        assert prefix_forms(text, region)
    except NumberError as e:
        _check_code(e)


@pytest.mark.parametrize(
    ("text", "code", "reason"),
    [
        (" ", NumberProblem.EMPTY, "empty"),
        ("1" * 65, NumberProblem.TOO_MANY_CHARS, "longer than 64 characters"),
        ("138abc", NumberProblem.NOT_DIGITS, "only digits, '+' and separators are allowed"),
        ("+999 1234 5678", NumberProblem.UNKNOWN_COUNTRY, "unknown country code"),
        ("0", NumberProblem.NOT_A_NUMBER, "not a phone number"),
        ("00 1", NumberProblem.TOO_SHORT_AFTER_IDD, "too short after the international prefix"),
        ("12", NumberProblem.TOO_SHORT, "too short"),
        ("9" * 25, NumberProblem.TOO_LONG, "too long"),
        ("+852 5555555555", NumberProblem.INVALID_LENGTH, "not a possible length for its country"),
        ("12345", NumberProblem.LOCAL_ONLY, "a local number without its area code"),
        (
            "000000086",
            NumberProblem.NO_ROUND_TRIP,
            "no E.164 form that reads back as the same number",
        ),
    ],
)
def test_each_refusal_has_its_code_and_its_english_reason(
    text: str, code: NumberProblem, reason: str
) -> None:
    with pytest.raises(NumberError) as e:
        canonical(text, "CN")
    assert (e.value.code, e.value.reason) == (code, reason)
    _check_code(e.value)


def test_the_codes_of_prefix_forms_and_of_a_missing_region() -> None:
    with pytest.raises(NumberError) as e:
        canonical("13700000000", None)
    assert e.value.code is NumberProblem.NO_REGION
    assert e.value.reason == "no country code, no site.region"
    for text, code, reason in [
        ("——", NumberProblem.NO_DIGITS, "no digits"),
        ("1" * 21, NumberProblem.TOO_MANY_DIGITS, f"more than {MAX_PREFIX_DIGITS} digits"),
        ("1" * 65, NumberProblem.TOO_MANY_CHARS, "longer than 64 characters"),
    ]:
        with pytest.raises(NumberError) as e:
            prefix_forms(text, "CN")
        assert (e.value.code, e.value.reason) == (code, reason)


def test_prefix_forms_of_a_typed_number() -> None:
    assert prefix_forms("138", "CN") == ("+86138", "138")
    assert prefix_forms("１３８", "CN") == ("+86138", "138")
    assert prefix_forms("+86 138", "CN") == ("+86138",)
    assert prefix_forms("0086 138", "CN") == ("+86138",)
    assert prefix_forms("021", "CN") == ("+8621", "021")  # the trunk prefix goes
    for bad in ("abc", "", "+", "1" * 21, "1" * 65):
        with pytest.raises(NumberError):
            prefix_forms(bad, "CN")


# --- the lists: do-not-call and VIP hold against every form ----------------------------


def test_the_sample_lists_are_in_e164(sample_config: HotlineConfig) -> None:
    assert sample_config.site.region == "CN"
    assert DNC in sample_config.callbacks.do_not_call
    assert all(E164.fullmatch(n) for n in sample_config.callbacks.do_not_call)
    assert VIP in sample_config.policy.vip_numbers
    assert all(E164.fullmatch(n) for n in sample_config.policy.vip_numbers)


@pytest.mark.parametrize("form", forms("13700000000"))
def test_do_not_call_holds_against_every_form(sample_config: HotlineConfig, form: str) -> None:
    rules = sample_config.callbacks.calling_rules(sample_config.calendar.holidays)
    assert rules.blocked(form)
    assert rules.customer_tz(form).key == "Asia/Shanghai"


@pytest.mark.parametrize("form", forms("13800000001"))
def test_vip_matches_every_form(sample_config: HotlineConfig, form: str) -> None:
    assert sample_config.policy.is_vip(form)


def test_other_numbers_are_neither_blocked_nor_vip(sample_config: HotlineConfig) -> None:
    rules = sample_config.callbacks.calling_rules()
    for other in ("13700000001", "+8613800000002", "4000", "", "0"):
        assert not rules.blocked(other)
        assert not sample_config.policy.is_vip(other)


_DIGIT_SCRIPTS = st.sampled_from([None, FULLWIDTH, ARABIC_INDIC, EXTENDED_ARABIC, DEVANAGARI])
_SEPARATORS = st.sampled_from(["", " ", "-", ".", "\u00a0", "\u3000"])


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["", "+86", "+86 ", "0086", "00 86 ", "(+86)"]),
    _SEPARATORS,
    _DIGIT_SCRIPTS,
)
def test_do_not_call_holds_for_generated_forms(
    sample_config: HotlineConfig, prefix: str, sep: str, script: dict[int, str] | None
) -> None:
    text = prefix + sep.join(["137", "0000", "0000"])
    if script is not None:
        text = text.translate(script)
    assert sample_config.callbacks.calling_rules().blocked(text)


def _intake(cfg: HotlineConfig, ledger: RecordingLedger) -> CallbackIntake:
    s = cfg.callbacks
    return CallbackIntake(
        ledger,
        s.calling_rules(cfg.calendar.holidays),
        s.retry,
        s.rules,
        s.intake.matter,
        lambda: datetime(2026, 11, 23, 2, 0, tzinfo=UTC),  # Monday 10:00 in Shanghai
        partial(canonical, region=cfg.site.region),  # as ivr.bootstrap.callback_parts
    )


@pytest.mark.parametrize("form", forms("13700000000"))
def test_the_intake_refuses_every_form_of_a_listed_number(
    sample_config: HotlineConfig, form: str
) -> None:
    ledger = RecordingLedger()
    intake = _intake(sample_config, ledger)
    arrived = datetime(2026, 11, 23, 1, 59, tzinfo=UTC)
    with pytest.raises(CallbackRefusedError):
        intake.request_from_ivr(form, "zh-CN", "enquiries", arrived)
    with pytest.raises(CallbackRefusedError):
        intake.request(form, "visitor:1")
    assert ledger.added == []


def test_the_intake_keeps_numbers_in_e164_and_refuses_impossible_ones(
    sample_config: HotlineConfig,
) -> None:
    ledger = RecordingLedger()
    intake = _intake(sample_config, ledger)
    arrived = datetime(2026, 11, 23, 1, 59, tzinfo=UTC)
    promise = intake.request_from_ivr("１３９ ０００ ０００ ０１", "zh-CN", "enquiries", arrived)
    assert promise.number == "+8613900000001" == ledger.added[0].number
    for bad in ("0", "9" * 200, "138; DROP"):
        with pytest.raises(CallbackRefusedError, match="not a callback number"):
            intake.request_from_ivr(bad, "zh-CN", "enquiries", arrived)
    assert len(ledger.added) == 1


# --- the IVR: caller IDs canonical when they parse, never refused --------------------


@pytest.mark.parametrize(
    ("callerid", "stored"),
    [
        ("13800000103", "+8613800000103"),
        ("008613800000103", "+8613800000103"),
        ("+8613800000103", "+8613800000103"),
        ("4000", "4000"),  # an internal extension: kept as Asterisk gave it
        ("0", "0"),
        ("unknown", ""),
        ("", ""),
    ],
)
def test_caller_id_is_canonical_when_it_parses(callerid: str, stored: str) -> None:
    env = {"agi_callerid": callerid, "agi_uniqueid": "1.1"}
    assert caller_from_env(env, "fastagi", "CN").number == stored


# --- configuration: site.region, refused numbers name the item -----------------------


@pytest.mark.parametrize(
    ("file", "old", "new", "item", "reason"),
    [
        ("hotline.yaml", "region: CN", "region: XX", "site.region", "unknown region 'XX'"),
        ("hotline.yaml", "region: CN", "region: [CN]", "site.region", "text"),
        (
            "callbacks.yaml",
            'numbers: ["+8613700000000"]',
            'numbers: ["+8613700000000", "0"]',
            "do_not_call.numbers[1]",
            "'0' is not a phone number",
        ),
        (
            "callbacks.yaml",
            'numbers: ["+8613700000000"]',
            f'numbers: ["{"1" * 200}"]',
            "do_not_call.numbers[0]",
            "longer than 64 characters",
        ),
        (
            "routing.yaml",
            '"13800000001"]',
            '"13800000001", "12"]',
            "vip.numbers[3]",
            "'12' is not a phone number",
        ),
    ],
)
def test_config_refuses_impossible_numbers_and_regions_naming_the_item(
    config_dir: Path, file: str, old: str, new: str, item: str, reason: str
) -> None:
    edit(config_dir, file, old, new)
    with pytest.raises(ConfigError) as e:
        load_config(config_dir, env={})
    assert (e.value.file, e.value.item) == (file, item)
    assert reason in e.value.reason


def test_do_not_call_file_in_any_form_and_a_bad_line_named(config_dir: Path) -> None:
    (config_dir / "dnc.txt").write_text(
        "# numbers that asked not to be called\n0086 139 0000 0009\n\n１３９００００００１０\n",
        encoding="utf-8",
    )
    edit(config_dir, "callbacks.yaml", "file: null", "file: dnc.txt")
    rules = load_config(config_dir, env={}).callbacks.calling_rules()
    for form in (*forms("13900000009"), *forms("13900000010"), *forms("13700000000")):
        assert rules.blocked(form), form
    (config_dir / "dnc.txt").write_text("13900000009\n12\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(config_dir, env={})
    assert e.value.item == "do_not_call.file"
    assert "line 2: '12' is not a phone number" in e.value.reason


def test_a_do_not_call_file_saved_with_a_byte_order_mark_is_read(config_dir: Path) -> None:
    """Its first line was refused ('\\ufeff13900000009' is not a phone number)."""
    (config_dir / "dnc.txt").write_text("\ufeff13900000009\r\n13900000010\r\n", encoding="utf-8")
    edit(config_dir, "callbacks.yaml", "file: null", "file: dnc.txt")
    rules = load_config(config_dir, env={}).callbacks.calling_rules()
    assert rules.blocked("+8613900000009") and rules.blocked("+8613900000010")


def test_without_a_region_national_list_entries_are_refused(config_dir: Path) -> None:
    edit(config_dir, "hotline.yaml", "  region: CN\n", "")
    with pytest.raises(ConfigError) as e:
        load_config(config_dir, env={})
    assert (e.value.file, e.value.item) == ("routing.yaml", "vip.numbers[2]")  # "13800000001"
    assert "site.region" in e.value.reason


# --- the command line: exit 2 naming the option --------------------------------------


@pytest.mark.parametrize("bad", ["0", "1" * 200, "138; DROP", "abc"])
def test_cli_refuses_an_impossible_callback_number(
    clean_env: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    bad: str,
) -> None:
    clean_env.setenv("HOTLINE_DATA_DIR", str(tmp_path))
    argv = ["callbacks", "add", "--config", "config", "--number", bad, "--matter", "visitor:1"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--number" in err and "is not a phone number" in err
    assert "Traceback" not in err


def test_cli_adds_in_e164_and_refuses_a_listed_number_in_any_form(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("HOTLINE_DATA_DIR", str(tmp_path))
    clean_env.setenv("HOTLINE_NOW", "2026-11-23T10:00:00+08:00")
    add = ["callbacks", "add", "--config", "config", "--matter", "visitor:1", "--number"]
    assert main([*add, "１３９-0000-0001", "--json"]) == 0
    assert '"number": "+8613900000001"' in capsys.readouterr().out
    for form in ("13700000000", "0086 137 0000 0000", "١٣٧٠٠٠٠٠٠٠٠"):
        assert main([*add, form]) == 3
        assert "do-not-call" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["0", "9" * 200, "+999 1234"])
def test_simulate_refuses_an_impossible_caller(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    argv = ["simulate", "--config", "config", "--at", "2026-11-23T10:00:00+08:00"]
    assert main([*argv, "--caller", bad, "--keys", "1"]) == 2
    err = capsys.readouterr().err
    assert "--caller" in err and "is not a phone number" in err and "Traceback" not in err


def test_simulate_treats_every_form_of_a_vip_alike(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["simulate", "--config", "config", "--at", "2026-11-23T10:00:00+08:00", "--json"]
    for form in ("13800000001", "١٣٨٠٠٠٠٠٠٠١", "0086 138 0000 0001"):
        assert main([*argv, "--caller", form, "--keys", "2"]) == 0
        out = capsys.readouterr().out
        assert '"vip": true' in out and '"caller": "+8613800000001"' in out


# --- a customer's time zone (callback calling hours) -------------------------------


@pytest.mark.parametrize(
    "number, zone",
    [
        ("+12125550100", "America/New_York"),
        ("+14155550100", "America/Los_Angeles"),
        ("+442071234567", "Europe/London"),
        ("+61212345678", "Australia/Sydney"),
        ("+8613800000001", "Asia/Shanghai"),
    ],
)
def test_a_callback_takes_the_zone_numbering_data_gives_the_number(
    sample_config: HotlineConfig, number: str, zone: str
) -> None:
    rules = sample_config.callbacks.calling_rules()
    assert rules.customer_tz(number).key == zone


@pytest.mark.parametrize("number", ["+18005550100", "+15555550100", "4000", "", "not a number"])
def test_a_number_without_one_zone_takes_the_configured_default(
    sample_config: HotlineConfig, number: str
) -> None:
    # +1 800 spans the continent; +1 555 is no area; the rest are no E.164 number.
    rules = sample_config.callbacks.calling_rules()
    assert rules.customer_tz(number).key == "Asia/Shanghai"


def test_a_configured_prefix_overrides_the_numbering_data(config_dir: Path) -> None:
    edit(
        config_dir,
        "callbacks.yaml",
        "timezones_by_prefix: {}",
        'timezones_by_prefix: {"+1212": America/Chicago}',
    )
    rules = load_config(config_dir).callbacks.calling_rules()
    assert rules.customer_tz("+12125550100").key == "America/Chicago"
    assert rules.customer_tz("+14155550100").key == "America/Los_Angeles"


def test_the_intake_keeps_the_customers_zone_and_due_time(sample_config: HotlineConfig) -> None:
    # Monday 02:00 UTC: 10:00 in Shanghai, but 18:00 on Sunday in Los Angeles,
    # and the sample calls no one on a Sunday: the callback waits for their Monday.
    ledger = RecordingLedger()
    intake = _intake(sample_config, ledger)
    arrived = datetime(2026, 11, 23, 1, 59, tzinfo=UTC)
    la = intake.request_from_ivr("+1 415 555 0100", "en", "enquiries", arrived)
    assert la.tz == "America/Los_Angeles" == ledger.added[0].tz
    sh = intake.request_from_ivr("13900000001", "zh-CN", "enquiries", arrived)
    assert sh.tz == "Asia/Shanghai"
    assert la.due_at > sh.due_at


@given(st.text(max_size=40))
def test_time_zone_never_raises(text: str) -> None:
    from ivr.phone import time_zone

    zone = time_zone(text)
    assert zone is None or (isinstance(zone, str) and "/" in zone)


def test_cached_answers_are_the_answers_a_fresh_parse_gives() -> None:
    from ivr import phone

    phone._parsed_cache.clear()
    first = phone.canonical("138 0000 0107", "CN")
    assert ("+8613800000107", "CN") in phone._parsed_cache  # the E.164 form, seeded
    assert phone.canonical(first, "CN") == first == phone.canonical(first, "US")
    for _ in range(2):  # a refusal, then the same refusal from the cache
        with pytest.raises(NumberError) as e:
            phone.canonical("0", "CN")
        assert e.value.number == "0" and e.value.reason == "not a phone number"
    phone._parsed_cache.clear()
    with pytest.raises(NumberError) as fresh:
        phone.canonical("0", "CN")
    assert fresh.value.reason == e.value.reason


def test_a_number_given_in_e164_is_parsed_once_a_national_one_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The round-trip check parses the E.164 form again; given in that form already,
    the first parse was that check (a tenth of the FastAGI service's CPU is here)."""
    import phonenumbers

    from ivr import phone

    real = phonenumbers.parse
    seen: list[str] = []

    def counting(text: str, region: str | None = None) -> phonenumbers.PhoneNumber:
        seen.append(text)
        return real(text, region)

    monkeypatch.setattr(phonenumbers, "parse", counting)
    phone._parsed_cache.clear()
    assert phone.canonical("+8613800000108", "CN") == "+8613800000108"
    assert seen == ["+8613800000108"]
    seen.clear()
    assert phone.canonical("13800000109", "CN") == "+8613800000109"
    assert seen == ["13800000109", "+8613800000109"]
    seen.clear()
    with pytest.raises(NumberError):  # reads back as another number: refused as before
        phone.canonical("000000086", "CN")


MAX_DNC_FILE_BYTES = 4 << 20  # ivr.config.callbacks
MAX_DNC_NUMBERS = 100_000


def test_a_do_not_call_file_too_large_is_refused_naming_it(config_dir: Path) -> None:
    """It was read whole, whatever its size: a stray export of the whole customer
    base, or a log file named by mistake, took the memory and minutes of every
    check-config and reload."""
    edit(config_dir, "callbacks.yaml", "file: null", "file: dnc.txt")
    path = config_dir / "dnc.txt"
    path.write_bytes(b"# big\n" + b"#" * MAX_DNC_FILE_BYTES)
    with pytest.raises(ConfigError) as e:
        load_config(config_dir, env={})
    assert (e.value.file, e.value.item) == ("callbacks.yaml", "do_not_call.file")
    assert (
        "dnc.txt" in e.value.reason and f"larger than {MAX_DNC_FILE_BYTES} bytes" in e.value.reason
    )


def test_a_do_not_call_list_of_too_many_numbers_is_refused_naming_the_file(
    config_dir: Path,
) -> None:
    edit(config_dir, "callbacks.yaml", "file: null", "file: dnc.txt")
    path = config_dir / "dnc.txt"
    # with the one number of numbers:, one too many
    path.write_text("".join(f"+86139{i:08d}\n" for i in range(MAX_DNC_NUMBERS)), encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(config_dir, env={})
    assert (e.value.file, e.value.item) == ("callbacks.yaml", "do_not_call.file")
    assert "dnc.txt" in e.value.reason and f"at most {MAX_DNC_NUMBERS}" in e.value.reason
    # comments and blank lines are not numbers: the list at its bound is read
    path.write_text(
        "# list\n\n" + "".join(f"+86139{i:08d}\n" for i in range(MAX_DNC_NUMBERS - 1)),
        encoding="utf-8",
    )
    assert len(load_config(config_dir, env={}).callbacks.do_not_call) == MAX_DNC_NUMBERS
