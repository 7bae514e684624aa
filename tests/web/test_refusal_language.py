"""Refusals in the request's language, both databases: why a phone number or a case's
input was refused comes from ivr/ as a code (ivr.phone.NumberProblem,
ivr.app.cases.CaseInput) with its numbers, and web/messages.py words it. Every code is
driven through a real request where the web can reach it (and worded in a request
context where it cannot); bad input across the forms and the API answers a zh-CN
request without an English word."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr.app.cases import CaseInput, CaseInputError
from ivr.phone import MAX_CHARS, NumberError, NumberProblem, canonical, prefix_forms
from web import messages

ZH = {"Accept-Language": "zh-CN"}
EN = {"Accept-Language": "en"}

# What each phone-number code says, in Chinese and in English (web/messages.py).
NUMBER_WORDS: dict[NumberProblem, tuple[str, str]] = {
    NumberProblem.EMPTY: ("为空", "empty"),
    NumberProblem.TOO_MANY_CHARS: ("超过 64 个字符", "longer than 64 characters"),
    NumberProblem.NOT_DIGITS: (
        "只能包含数字、“+”和分隔符",
        "only digits, '+' and separators are allowed",
    ),
    NumberProblem.NO_REGION: (
        "缺少国家代码，且热线未设置所在地区",
        "no country code, and the hotline has no region",
    ),
    NumberProblem.UNKNOWN_COUNTRY: ("国家代码未知", "unknown country code"),
    NumberProblem.NOT_A_NUMBER: ("不是电话号码", "not a phone number"),
    NumberProblem.TOO_SHORT_AFTER_IDD: (
        "国际前缀之后的号码太短",
        "too short after the international prefix",
    ),
    NumberProblem.TOO_SHORT: ("号码太短", "too short"),
    NumberProblem.TOO_LONG: ("号码太长", "too long"),
    NumberProblem.INVALID_LENGTH: (
        "位数不符合该国家或地区的号码长度",
        "not a possible length for its country",
    ),
    NumberProblem.LOCAL_ONLY: ("是缺少区号的本地号码", "a local number without its area code"),
    NumberProblem.NOT_POSSIBLE: ("不可能是有效号码", "not a possible number"),
    NumberProblem.NO_ROUND_TRIP: (
        "没有能还原为同一号码的 E.164 格式",
        "no E.164 form that reads back as the same number",
    ),
    NumberProblem.NO_DIGITS: ("没有数字", "no digits"),
    NumberProblem.TOO_MANY_DIGITS: ("超过 20 位数字", "more than 20 digits"),
}

# A number the case form refuses with each code (region CN, as config/hotline.yaml).
CASE_FORM_NUMBERS = {
    NumberProblem.NOT_DIGITS: "138abc",
    NumberProblem.UNKNOWN_COUNTRY: "+999 1234 5678",
    NumberProblem.NOT_A_NUMBER: "０",
    NumberProblem.TOO_SHORT_AFTER_IDD: "00 1",
    NumberProblem.TOO_SHORT: "12",
    NumberProblem.TOO_LONG: "9" * 25,
    NumberProblem.INVALID_LENGTH: "+852 5555555555",
    NumberProblem.LOCAL_ONLY: "12345",
    NumberProblem.NO_ROUND_TRIP: "000000086",
}
# A text the call list's number filter refuses with each code.
FILTER_NUMBERS = {
    NumberProblem.NO_DIGITS: "——",
    NumberProblem.TOO_MANY_DIGITS: "1" * 25,
}
# Codes no request reaches (the parsers of web/params.py or the sample config stop them
# first: text_param bounds the length and strips, site.region is set; NOT_POSSIBLE is
# what a new kind of libphonenumber refusal would get): worded in a request context.
UNREACHABLE_NUMBER_ERRORS = {
    NumberProblem.EMPTY: NumberError(" ", NumberProblem.EMPTY),
    NumberProblem.TOO_MANY_CHARS: NumberError(
        "1" * 70, NumberProblem.TOO_MANY_CHARS, limit=MAX_CHARS
    ),
    NumberProblem.NO_REGION: NumberError("13700000000", NumberProblem.NO_REGION),
    NumberProblem.NOT_POSSIBLE: NumberError("1", NumberProblem.NOT_POSSIBLE),
}

CASE_WORDS: dict[CaseInput, tuple[str, str]] = {
    CaseInput.MISSING: ("必填", "is required"),
    CaseInput.NOT_A_CALL_ID: ("不是通话编号", "is not a call id"),
    CaseInput.UNKNOWN_CALL: (
        "通话记录中没有通话 '1732330800.99'",
        "no call '1732330800.99' in the call log",
    ),
    CaseInput.NOT_ONE_OF: ("必须是以下之一：minor, major", "must be one of minor, major"),
    CaseInput.TOO_LONG: ("共 201 个字符，最多 200 个", "201 characters: at most 200"),
    CaseInput.NUL: ("不得包含字符 U+0000", "may not contain the character U+0000"),
    CaseInput.BAD_NUMBER: ("号码太短", "too short"),
    CaseInput.CONTROL_CHARACTERS: ("包含控制字符", "contains control characters"),
    CaseInput.AFTER_TODAY: (
        "2026-11-24 晚于今天（2026-11-23）",
        "2026-11-24 is after today (2026-11-23)",
    ),
    CaseInput.TOO_LONG_AGO: ("早于 366 天前", "more than 366 days ago"),
    CaseInput.NOT_A_FILE_NO: (
        "不是访客档案编号（YYYYMMDD-NNNN）",
        "is not a visitor file number (YYYYMMDD-NNNN)",
    ),
    CaseInput.CHECKED_OUT: (
        "20261123-0001 已于 2026-11-23 登记离开",
        "20261123-0001 checked out on 2026-11-23",
    ),
    CaseInput.ALREADY_CHECKED_OUT: (
        "20261123-0001 已登记离开",
        "20261123-0001 is already checked out",
    ),
    CaseInput.CONTRACT_AHEAD: (
        "2036-11-23 比今天晚 366 天以上",
        "2036-11-23 is more than 366 days after today",
    ),
    CaseInput.CONTRACT_OVER: (
        "其回访周期（24 个月）已于 2018-11-23 结束",
        "its callback series (24 months) ended on 2018-11-23",
    ),
}


def _case_error(code: CaseInput) -> CaseInputError:
    from datetime import date

    day = date(2026, 11, 23)
    values: dict[str, Any] = {
        CaseInput.UNKNOWN_CALL: {"subject": "1732330800.99"},
        CaseInput.NOT_ONE_OF: {"choices": ("minor", "major")},
        CaseInput.TOO_LONG: {"count": 201, "limit": 200},
        CaseInput.BAD_NUMBER: {"cause": NumberError("12", NumberProblem.TOO_SHORT)},
        CaseInput.AFTER_TODAY: {"subject": "2026-11-24", "day": day},
        CaseInput.TOO_LONG_AGO: {"limit": 366},
        CaseInput.NOT_A_FILE_NO: {"cause": ValueError("not of the form YYYYMMDD-NNNN")},
        CaseInput.CHECKED_OUT: {"subject": "20261123-0001", "day": day},
        CaseInput.ALREADY_CHECKED_OUT: {"subject": "20261123-0001"},
        CaseInput.CONTRACT_AHEAD: {"subject": "2036-11-23", "limit": 366},
        CaseInput.CONTRACT_OVER: {"day": date(2018, 11, 23), "limit": 24},
    }.get(code, {})
    return CaseInputError("item", code, **values)


def _api(client: FlaskClient, method: str, path: str, body: Any, lang: dict[str, str]) -> Any:
    token = client.get("/api/me").get_json()["csrf_token"]
    return getattr(client, method)(path, json=body, headers={"X-CSRF-Token": token, **lang})


def _refusal(r: Any) -> tuple[str, str | None]:
    """(the message, the parameter) of a 4xx: the JSON error, or the error page's text."""
    if r.is_json:
        body = r.get_json()
        return body["error"], body.get("param")
    m = re.search(r"<section class=\"card narrow\"><h1>.*?</h1><p>(.*?)</p>", r.get_data(True))
    assert m, r.get_data(True)[:500]
    return m.group(1).replace("&#39;", "'").replace("&#34;", '"').replace("&amp;", "&"), None


def test_the_tables_cover_every_code() -> None:
    reached = set(CASE_FORM_NUMBERS) | set(FILTER_NUMBERS) | set(UNREACHABLE_NUMBER_ERRORS)
    assert reached == set(NumberProblem) == set(NUMBER_WORDS)
    assert set(CASE_WORDS) == set(CaseInput)
    for code, text in CASE_FORM_NUMBERS.items():
        with pytest.raises(NumberError) as e:
            canonical(text, "CN")
        assert e.value.code is code, text
    for code, text in FILTER_NUMBERS.items():
        with pytest.raises(NumberError) as e:
            prefix_forms(text, "CN")
        assert e.value.code is code, text


def test_every_phone_number_refusal_in_chinese_and_english(
    client: FlaskClient, app: Flask, web_users: dict[str, str], login: Any, csrf: Any
) -> None:
    login(client, "lead")
    for code, number in CASE_FORM_NUMBERS.items():
        for lang, words in ((ZH, NUMBER_WORDS[code][0]), (EN, NUMBER_WORDS[code][1])):
            body = {"class": "minor", "matter": "m", "number": number}
            r = _api(client, "post", "/api/cases", body, lang)
            assert r.status_code == 400 and r.get_json() == {
                "error": f"number: {words}",
                "param": "number",
            }, (code, r.get_json())
    for code, text in FILTER_NUMBERS.items():
        for lang, words in ((ZH, NUMBER_WORDS[code][0]), (EN, NUMBER_WORDS[code][1])):
            r = client.get("/api/calls", query_string={"number": text}, headers=lang)
            assert r.status_code == 400 and r.get_json() == {
                "error": f"number: {words}",
                "param": "number",
            }, (code, r.get_json())
            page = client.get("/calls", query_string={"number": text}, headers=lang)
            assert page.status_code == 400 and _refusal(page)[0] == f"number: {words}"
    # the case form of the pages: the error page, in the request's language
    token = csrf(client.get("/cases").get_data(as_text=True))
    form = {"csrf_token": token, "class": "minor", "matter": "m", "number": "12"}
    r = client.post("/cases", data=form, headers=ZH)
    assert r.status_code == 400 and _refusal(r)[0] == "number: 号码太短"
    for code, e in UNREACHABLE_NUMBER_ERRORS.items():
        for lang, words in zip((ZH, EN), NUMBER_WORDS[code], strict=True):
            with app.test_request_context(headers=lang):
                assert messages.number_error(e) == words, code


def test_every_case_input_refusal_in_chinese_and_english(
    client: FlaskClient, app: Flask, web_users: dict[str, str], login: Any
) -> None:
    login(client, "lead")
    reached = {
        CaseInput.MISSING: ({"class": "minor", "matter": " ", "number": "13800000001"}, "matter"),
        CaseInput.UNKNOWN_CALL: (
            {"class": "minor", "matter": "m", "call": "1732330800.99"},
            "call",
        ),
        CaseInput.BAD_NUMBER: ({"class": "minor", "matter": "m", "number": "12"}, "number"),
        CaseInput.CONTRACT_AHEAD: (
            {"class": "minor", "matter": "m", "number": "13800000001",
             "contract_start": "2036-11-23"},
            "contract_start",
        ),
    }  # fmt: skip
    for code, (body, param) in reached.items():
        for lang, words in zip((ZH, EN), CASE_WORDS[code], strict=True):
            r = _api(client, "post", "/api/cases", body, lang)
            assert r.status_code == 400 and r.get_json() == {
                "error": f"{param}: {words}",
                "param": param,
            }, (code, r.get_json())
    # changing a case: the use case's refusal is worded the same way
    r = _api(
        client, "post", "/api/cases", {"class": "minor", "matter": "m", "number": "13800000001"}, ZH
    )
    assert r.status_code == 201, r.get_json()
    no = r.get_json()["case_no"]
    r = _api(client, "post", f"/api/cases/{no}", {"call": "1732330800.99", "note": "n"}, ZH)
    assert r.status_code == 400 and r.get_json() == {
        "error": "call: " + CASE_WORDS[CaseInput.UNKNOWN_CALL][0],
        "param": "call",
    }
    # the codes web/params.py stops before the use case sees them, and the visitor files'
    for code, (zh, en) in CASE_WORDS.items():
        e = _case_error(code)
        for lang, words in ((ZH, zh), (EN, en)):
            with app.test_request_context(headers=lang):
                assert messages.case_input(e) == words, code


# --- no English on a Chinese refusal ---------------------------------------------------

# Names of formats and standards a Chinese text keeps as they are written.
FORMAT_NAMES = {"YYYY", "YYYYMM", "NNNN", "Www", "ISO", "JSON", "CSRF"}
_WORD = re.compile(r"[A-Za-z_]*[A-Za-z]{3}[A-Za-z_]*")  # a run of 3+ letters, whole word

# (who, method, path, query or body, the parameter, the codes the message may list)
BAD_INPUT: list[tuple[str, str, str, dict[str, Any] | list[Any] | None, str | None, set[str]]] = [
    ("lead", "get", "/api/calls", {"page": "０"}, "page", set()),
    ("lead", "get", "/api/calls", {"per_page": "9999"}, "per_page", set()),
    ("lead", "get", "/api/calls", {"from": "2026-13-45"}, "from", set()),
    ("lead", "get", "/api/calls", {"from": "2026-11-23", "to": "2026-11-01"}, "from", set()),
    ("lead", "get", "/api/calls", {"number": "——"}, "number", set()),
    ("lead", "get", "/api/calls", {"number": "1" * 25}, "number", set()),
    ("lead", "get", "/api/calls", {"agent": "\u202e"}, "agent", set()),
    ("lead", "get", "/calls", {"number": "1" * 25}, "number", set()),
    ("lead", "get", "/calls", {"to": "2026-02-30"}, "to", set()),
    ("lead", "get", "/api/cases", {"limit": "0"}, "limit", set()),
    ("lead", "get", "/api/cases", {"q": "\x00"}, "q", set()),
    ("lead", "get", "/api/cases/123", None, "case_no", set()),
    ("lead", "get", "/api/cases/202611-9999", None, None, set()),
    ("lead", "get", "/cases/review.csv", {"week": "2026-W99"}, "week", set()),
    (
        "lead",
        "post",
        "/api/cases",
        {"class": "minor", "matter": "m", "number": "12"},
        "number",
        set(),
    ),
    (
        "lead",
        "post",
        "/api/cases",
        {"class": "minor", "matter": "m", "number": "+999 1"},
        "number",
        set(),
    ),
    (
        "lead",
        "post",
        "/api/cases",
        {"class": "minor", "matter": "", "number": "13800000001"},
        "matter",
        set(),
    ),
    ("lead", "post", "/api/cases", {"class": "minor", "matter": "m"}, "number", set()),
    (
        "lead",
        "post",
        "/api/cases",
        {"class": "minor", "matter": "m", "call": "1732330800.99"},
        "call",
        set(),
    ),
    (
        "lead",
        "post",
        "/api/cases",
        {"class": "minor", "matter": "m", "number": "1", "contract_start": "2026-02-30"},
        "contract_start",
        set(),
    ),
    ("lead", "post", "/api/cases", [1], "body", set()),
    ("lead", "get", "/api/reports", {"from": "2026-11-23", "to": "2026-11-01"}, "from", set()),
    ("lead", "get", "/api/planner", {"date": "2026-02-30"}, "date", set()),
    ("lead", "get", "/api/callbacks/rate", {"days": "0"}, "days", set()),
    (
        "lead",
        "get",
        "/api/away-requests",
        {"status": "１"},
        "status",
        {"pending", "approved", "refused", "cancelled", "all"},
    ),
    (
        "chen",
        "post",
        "/api/agent/status",
        {"state": "１"},
        "state",
        {"available", "wrap_up", "away"},
    ),
    ("chen", "get", "/api/calls", {"agent": "li"}, None, {"chen"}),
    ("chen", "get", "/reports", None, None, set()),
    ("chen", "get", "/api/reports", None, None, set()),
]


def test_no_english_word_in_a_chinese_refusal(
    app: Flask, web_users: dict[str, str], login: Any
) -> None:
    # a ValueError that slipped past the parsers: a 400 in the request's language too
    app.add_url_rule("/api/overflow", "overflow", lambda: str(int("x")))
    clients: dict[str, FlaskClient] = {}
    for user, method, path, data, param, codes in BAD_INPUT:
        if user not in clients:
            clients[user] = app.test_client()
            login(clients[user], user)
        client = clients[user]
        if method == "get":
            r = client.get(path, query_string=data, headers=ZH)
        else:
            r = _api(client, method, path, data, ZH)
        assert 400 <= r.status_code < 500, (path, data, r.status_code)
        text, named = _refusal(r)
        if r.is_json:
            assert named == param, (path, data, text)
        reason = text.removeprefix(f"{param}: ") if param else text
        english = set(_WORD.findall(reason)) - FORMAT_NAMES - codes
        assert not english, (path, data, text)
    r = client.get("/api/overflow", headers=ZH)
    assert r.status_code == 400
    assert r.get_json() == {"error": "有参数的值超出范围或格式不对", "param": None}
