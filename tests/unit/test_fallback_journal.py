"""The fallback journal (ivr/adapters/asterisk/journal.py): lines as the dialplan
writes them, hostile and broken ones, the same translation as the AMI path, what a
replay writes and what it leaves."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ivr.adapters.asterisk import names
from ivr.adapters.asterisk.ami import translate
from ivr.adapters.asterisk.journal import (
    FIELDS,
    FallbackJournal,
    JournalLineError,
    call_events,
    parse_line,
    still_needed,
)
from ivr.adapters.asterisk.templates import AsteriskSettings, SeatSpec, render_all
from ivr.domain.calllog import (
    SOURCE_AMI,
    CallAnswered,
    CallEnded,
    CallEvent,
    CallStarted,
    Routed,
)

UID = "1796614831.7"
T = 1796614832.25  # Asterisk's Unix time of the line
AT = datetime.fromtimestamp(T, UTC)
NAME = 'Eve|E|"x"\\ ' + "名" * 300


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


START = f"S|{UID}|{T}|1796614831.5|13800000001|{b64(NAME)}|PJSIP/anonymous-00000007"
VOICEMAIL = f"V|{UID}|{T + 20}"
ANSWERED = f"A|{UID}|{T + 3}|PJSIP/seat3-0000000a"
END = f"E|{UID}|{T + 30}|1796614831.5|0|caller|13800000001"


def events(line: str) -> list[CallEvent]:
    return call_events(parse_line(line), timedelta(0))


# --- lines as the AMI events they stand for -------------------------------------------


def test_a_start_line_is_the_fallback_user_event() -> None:
    live = translate(
        "UserEvent",
        {
            "UserEvent": names.USEREVENT_FALLBACK,
            "Uniqueid": UID,
            "Caller": "13800000001",
            "CallerIDName": NAME,
            "Channel": "PJSIP/anonymous-00000007",
        },
        AT,
    )
    assert events(START) == live
    started, routed = live
    assert isinstance(started, CallStarted) and started.source == "fallback"
    assert started.caller_name.startswith('Eve|E|"x" 名')  # agi.caller_name: escapes undone
    assert isinstance(routed, Routed) and (routed.kind, routed.target) == ("queue", "operator")


def test_voicemail_answer_and_end_lines() -> None:
    (vm,) = events(VOICEMAIL)
    assert isinstance(vm, Routed) and vm.kind == "voicemail" and vm.branch == "operator"
    assert vm.at == AT + timedelta(seconds=20)
    assert events(ANSWERED) == [CallAnswered(UID, AT + timedelta(seconds=3), "seat3")]
    started, ended = events(END)
    assert isinstance(started, CallStarted) and started.source == SOURCE_AMI
    # the start from the entry time, as ami.entered_at does with a Hangup's Timestamp
    assert started.at == AT + timedelta(seconds=30) - timedelta(seconds=30.75)
    assert started.caller == "13800000001"
    assert ended == CallEnded(UID, AT + timedelta(seconds=30), "caller hung up (fallback journal)")


def test_a_cause_asterisk_knew_is_kept() -> None:
    line = f"E|{UID}|{T}||16|system|"
    _, ended = events(line)
    assert isinstance(ended, CallEnded)
    assert ended.hangup_cause == "16 hung up by Asterisk (fallback journal)"


def test_times_move_onto_the_hotline_clock() -> None:
    offset = timedelta(days=-300)  # a pinned clock (HOTLINE_NOW) far from the system's
    (vm,) = call_events(parse_line(VOICEMAIL), offset)
    assert vm.at == AT + timedelta(seconds=20) + offset


# --- hostile and broken lines ---------------------------------------------------------

BROKEN = [
    pytest.param("", id="empty"),
    pytest.param("X|1.2|3", id="unknown kind"),
    pytest.param(f"V|{UID}", id="a field short"),
    pytest.param(f"V|{UID}|{T}|E", id="a forged field"),
    pytest.param(START + "|E|1|2|0|caller|x", id="a forged line inside a line"),
    pytest.param(f"V|{UID} x|{T}", id="space in the uid"),
    pytest.param(f"V|{UID}\r|{T}", id="CR in the uid"),
    pytest.param(f"V|{UID}\x00|{T}", id="NUL"),
    pytest.param(f"V|名|{T}", id="CJK uid"),
    pytest.param(f"V|{UID}|yesterday", id="not a time"),
    pytest.param(f"V|{UID}|999999999999.5", id="a time past year 9999"),
    pytest.param(f"V|{UID}|-5", id="a negative time"),
    pytest.param(START.replace("|13800000001|", "|138'00|"), id="a quote in the caller"),
    pytest.param(START.replace(b64(NAME), "not base64!"), id="name not base64"),
    pytest.param(START.replace(b64(NAME), "QUJD="), id="bad base64 padding"),
    pytest.param(START.replace("PJSIP/anon", 'PJSIP/a"non'), id="a quote in the channel"),
    pytest.param(f"E|{UID}|{T}||0|nobody|", id="an unknown hang-up side"),
    pytest.param(f"E|{UID}|{T}||12345|caller|", id="a cause too long"),
    pytest.param(f"A|{UID}|{T}|" + "x" * 200, id="a channel too long"),
    pytest.param("S|" + "|".join(["1"] * 5) + "|" + "A" * 5000, id="a line too long"),
    pytest.param(f"V|{'1' * 65}|{T}", id="a uid too long"),
]


@pytest.mark.parametrize("line", BROKEN)
def test_a_line_that_does_not_fit_is_refused_by_its_field(line: str) -> None:
    with pytest.raises(JournalLineError) as err:
        parse_line(line)
    assert "\x00" not in str(err.value) and "名" not in str(err.value)  # never echoed


# --- the dialplan writes what the parser reads ----------------------------------------


def rendered_dialplan() -> str:
    settings = AsteriskSettings(
        hotline_extension="4000",
        seats=(SeatSpec("seat1", 1),),
        queues=("enquiries", "operator"),
        seat_password="pw",
        ami_secret="secret",
        fallback_journal="/var/lib/hotline/journal/fallback.log",
    )
    return render_all(settings)["extensions.conf"]


def contexts(text: str) -> dict[str, str]:
    parts = re.split(r"^\[([^\]]+)\]\s*$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_journal_write_has_its_kinds_fields() -> None:
    writes = re.findall(
        r"Set\(FILE\(/var/lib/hotline/journal/fallback\.log,,,al,u\)=(.*)\)$",
        rendered_dialplan(),
        flags=re.M,
    )
    assert sorted(w[0] for w in writes) == sorted(FIELDS)
    for value in writes:
        kind, *fields = value.split(names.JOURNAL_SEPARATOR)
        assert len(fields) == len(FIELDS[kind]), value
        # every value FILTERed, base64 or ours: nothing raw from the caller
        for field in fields:
            assert field.startswith(("${FILTER(", "${BASE64_ENCODE(", "${STRFTIME(", "${IF(")), (
                field
            )


def test_only_the_fallback_writes_the_journal() -> None:
    """The normal path costs Asterisk no application more (issue 14)."""
    by_context = contexts(rendered_dialplan())
    writers = {name for name, body in by_context.items() if "FILE(" in body}
    assert writers == {
        names.CONTEXT_FALLBACK,
        names.CONTEXT_FALLBACK_END,
        names.CONTEXT_FALLBACK_ANSWERED,
    }
    assert "hangup_handler_push" in by_context[names.CONTEXT_FALLBACK]
    assert not any(
        "hangup_handler_push" in body
        for name, body in by_context.items()
        if name != names.CONTEXT_FALLBACK
    )
    assert f",,{names.CONTEXT_FALLBACK_ANSWERED})" in by_context[names.CONTEXT_FALLBACK]


@pytest.mark.parametrize(
    "path", ["relative/x", "/a b", "/a,b", "/a)b", "/${X}", "/a/../b", "/a;b", "/a/b\n"]
)
def test_a_journal_path_the_dialplan_would_mangle_is_refused(path: str) -> None:
    from ivr.adapters.asterisk.errors import TemplateError

    settings = AsteriskSettings("4000", (), ("operator",), "pw", "s", fallback_journal=path)
    with pytest.raises(TemplateError, match="fallback journal"):
        render_all(settings)


# --- what a replay writes ---------------------------------------------------------------


@dataclass(frozen=True)
class Known:
    source: str | None = "fallback"
    branch: str | None = "operator"
    route_kind: str | None = "queue"
    answered_at: datetime | None = None
    ended_at: datetime | None = None


def all_events() -> list[CallEvent]:
    return [e for line in (START, ANSWERED, VOICEMAIL, END) for e in events(line)]


def test_an_unknown_call_gets_everything() -> None:
    assert still_needed(all_events(), None) == all_events()


def test_a_complete_record_gets_nothing() -> None:
    assert still_needed(all_events(), Known(ended_at=AT)) == []


def test_an_open_record_gets_only_what_it_lacks() -> None:
    kinds = [type(e).__name__ for e in still_needed(all_events(), Known(answered_at=AT))]
    assert kinds == ["Routed", "CallEnded"]  # voicemail and the end; no start over "fallback"
    fastagi = still_needed(all_events(), Known(source="fastagi", branch="enquiries"))
    routed = [e for e in fastagi if isinstance(e, Routed)]
    assert [r.kind for r in routed] == ["queue", "voicemail"]  # the fallback's route wins
    assert not any(isinstance(e, CallStarted) and e.source == "fallback" for e in fastagi)
    weak = still_needed(all_events(), Known(source=SOURCE_AMI, branch=None, route_kind=None))
    assert any(isinstance(e, CallStarted) and e.source == "fallback" for e in weak)


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[CallEvent]] = []

    def __call__(self, events: Sequence[CallEvent]) -> None:
        self.batches.append(list(events))

    @property
    def events(self) -> list[CallEvent]:
        return [e for b in self.batches for e in b]


def journal_at(tmp_path: Path, known: object = None) -> FallbackJournal:
    return FallbackJournal(
        tmp_path / "fallback.log",
        clock=lambda: datetime.now(UTC),
        known=lambda uid: known,  # type: ignore[arg-type,return-value]
    )


def test_replay_writes_the_good_lines_and_names_each_bad_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = journal_at(tmp_path)
    lines = [START, "garbage|||", ANSWERED, f"V|{UID}|{T}|forged", END, f"S|{UID}|trunc"]
    journal.path.write_text("\n".join(lines), encoding="utf-8")  # the last without its end
    recorder = Recorder()
    with caplog.at_level(logging.WARNING):
        assert journal.replay(recorder) == 5
    assert [type(e).__name__ for e in recorder.events] == [
        "CallStarted", "Routed", "CallAnswered", "CallStarted", "CallEnded",
    ]  # fmt: skip
    skipped = [r.getMessage() for r in caplog.records]
    assert len(skipped) == 3 and not any(r.exc_info for r in caplog.records)
    assert ["line 2 " in skipped[0], "line 4 " in skipped[1], "line 6 " in skipped[2]] == [True] * 3
    assert "truncated" in skipped[2]
    assert not journal.path.exists() and not journal.replaying_path.exists()


@pytest.mark.parametrize("ahead", [timedelta(days=400), timedelta(0)], ids=["ahead", "level"])
def test_a_time_at_the_end_of_the_calendar_is_skipped_not_the_whole_journal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, ahead: timedelta
) -> None:
    """The last second of year 9999 fits the line's form; on a hotline clock set ahead
    (HOTLINE_NOW) it has no place: that line is skipped, the others replayed."""
    journal = FallbackJournal(
        tmp_path / "fallback.log",
        clock=lambda: datetime.now(UTC) + ahead,
        known=lambda uid: None,
    )
    journal.path.write_text(f"{START}\nV|1796614831.9|253402300799.5\n{END}\n", "utf-8")
    recorder = Recorder()
    with caplog.at_level(logging.WARNING):
        journal.replay(recorder)
    assert {e.uid for e in recorder.events} >= {UID}
    assert any(isinstance(e, CallEnded) and e.uid == UID for e in recorder.events)
    assert not journal.waiting
    if ahead:
        assert any("line 2 skipped" in r.getMessage() for r in caplog.records)
    assert not any(r.exc_info for r in caplog.records)


def test_a_line_written_into_the_renamed_file_is_not_lost(tmp_path: Path) -> None:
    """Asterisk opened the journal just before the replay renamed it and writes its
    line a moment later: the replay reads the file again after writing."""
    journal = journal_at(tmp_path)
    journal.path.write_text(START + "\n", encoding="utf-8")
    late = open(journal.path, "a", encoding="utf-8")  # noqa: SIM115 - Asterisk's open file
    recorder = Recorder()

    def write(events: Sequence[CallEvent]) -> None:
        if not recorder.batches:
            late.write(END + "\n")
            late.close()
        recorder(events)

    journal.replay(write)
    assert [type(e).__name__ for e in recorder.events] == [
        "CallStarted", "Routed", "CallStarted", "CallEnded",
    ]  # fmt: skip


def test_a_line_appended_during_the_replay_waits_in_a_new_journal(tmp_path: Path) -> None:
    journal = journal_at(tmp_path)
    journal.path.write_text(START + "\n", encoding="utf-8")

    def write(events: Sequence[CallEvent]) -> None:
        with open(journal.path, "a", encoding="utf-8") as f:  # Asterisk's next append
            f.write(VOICEMAIL + "\n")

    journal.replay(write)
    assert journal.path.read_text(encoding="utf-8") == VOICEMAIL + "\n"
    recorder = Recorder()
    journal.replay(recorder)
    assert [e.kind for e in recorder.events if isinstance(e, Routed)] == ["voicemail"]


def test_a_replay_that_failed_is_replayed_first_and_the_journal_kept(tmp_path: Path) -> None:
    journal = journal_at(tmp_path)
    journal.path.write_text(START + "\n", encoding="utf-8")

    def broken(events: Sequence[CallEvent]) -> None:
        raise RuntimeError("database refused")

    with pytest.raises(RuntimeError):
        journal.replay(broken)
    assert journal.replaying_path.exists()
    journal.path.write_text(END + "\n", encoding="utf-8")  # written meanwhile
    recorder = Recorder()
    assert journal.replay(recorder) == 4
    assert [type(e).__name__ for e in recorder.events][:2] == ["CallStarted", "Routed"]
    assert not journal.path.exists() and not journal.replaying_path.exists()


def test_no_journal_is_nothing_to_do(tmp_path: Path) -> None:
    recorder = Recorder()
    assert journal_at(tmp_path).replay(recorder) == 0
    assert recorder.batches == []


def test_the_service_flushes_the_call_log_only_when_there_is_a_journal(tmp_path: Path) -> None:
    """The replay runs before every sweep; without a journal (the rule) it must not
    wait for the call-log writer, which under traffic is always busy."""
    from types import SimpleNamespace

    from ivr.service import HotlineService

    flushed: list[bool] = []
    recorder = Recorder()
    service = SimpleNamespace(
        journal=journal_at(tmp_path),
        calllog=SimpleNamespace(flush=lambda: flushed.append(True)),
        spooling=SimpleNamespace(record_many=recorder),
        _with_agent=lambda e: e,
    )
    assert HotlineService.replay_journal(service) == 0  # type: ignore[arg-type]
    assert flushed == [] and not service.journal.waiting
    service.journal.path.write_text(START + "\n", encoding="utf-8")
    assert service.journal.waiting
    assert HotlineService.replay_journal(service) > 0  # type: ignore[arg-type]
    assert flushed == [True] and not service.journal.waiting


def test_a_call_already_complete_is_not_written(tmp_path: Path) -> None:
    journal = journal_at(tmp_path, Known(answered_at=AT, ended_at=AT))
    journal.path.write_text("\n".join((START, ANSWERED, END)) + "\n", encoding="utf-8")
    recorder = Recorder()
    assert journal.replay(recorder) == 0
    assert recorder.batches == [] and not journal.path.exists()


# --- ami.journal in hotline.yaml -------------------------------------------------------


def test_the_journal_lies_in_the_data_directory_by_default(tmp_path: Path) -> None:
    from config_files import SAMPLE_CONFIG_DIR

    from ivr.config import load_config

    config = load_config(SAMPLE_CONFIG_DIR, {"HOTLINE_DATA_DIR": str(tmp_path)})
    assert config.fallback_journal == tmp_path / "journal" / "fallback.log"


@pytest.mark.parametrize("value", ["spool/j.log", "/var/spool/asterisk/hotline/j.log"])
def test_the_journal_is_read_from_config(config_dir: Path, tmp_path: Path, value: str) -> None:
    from config_files import edit

    from ivr.config import load_config

    edit(config_dir, "hotline.yaml", "journal: journal/fallback.log", f"journal: {value}")
    config = load_config(config_dir, {"HOTLINE_DATA_DIR": str(tmp_path)})
    assert config.fallback_journal == (tmp_path / value if value[0] != "/" else Path(value))


@pytest.mark.parametrize(
    "value",
    ["'/a b.log'", "'x,y'", "'x)'", "'${EVIL}'", "'../up.log'", "'a;b'", "'x/'", "[a, b]",
     '"/tmp/j.log\\n"'],  # a line end: $ matches before it, the whole path must match
)  # fmt: skip
def test_a_journal_path_is_refused_naming_the_item(
    config_dir: Path, tmp_path: Path, value: str
) -> None:
    from config_files import edit

    from ivr.config import ConfigError, load_config

    edit(config_dir, "hotline.yaml", "journal: journal/fallback.log", f"journal: {value}")
    with pytest.raises(ConfigError) as e:
        load_config(config_dir, {"HOTLINE_DATA_DIR": str(tmp_path)})
    assert e.value.file == "hotline.yaml" and e.value.item == "ami.journal", e.value


@pytest.mark.parametrize("name", ["d x", "d;x", "d\x01x", " ", "d,x", "d)x", "目录"])
def test_a_data_directory_the_journal_cannot_lie_in_is_refused_naming_the_variable(
    tmp_path: Path, name: str
) -> None:
    """The journal's default path is fine; HOTLINE_DATA_DIR put it where FILE() cannot
    go. The error used to blame hotline.yaml's ami.journal, which nobody had written."""
    from config_files import SAMPLE_CONFIG_DIR

    from ivr.config import ConfigError, load_config

    with pytest.raises(ConfigError) as e:
        load_config(SAMPLE_CONFIG_DIR, {"HOTLINE_DATA_DIR": str(tmp_path / name)})
    assert (e.value.file, e.value.item) == ("environment", "HOTLINE_DATA_DIR"), e.value
    assert "\x01" not in str(e.value)  # shown escaped
    assert "data directory" in e.value.reason and "FILE()" in e.value.reason


def test_an_absolute_journal_needs_no_such_data_directory(config_dir: Path, tmp_path: Path) -> None:
    from config_files import edit

    from ivr.config import load_config

    edit(config_dir, "hotline.yaml", "journal: journal/fallback.log", "journal: /var/j.log")
    config = load_config(config_dir, {"HOTLINE_DATA_DIR": str(tmp_path / "d x")})
    assert config.fallback_journal == Path("/var/j.log")


def test_a_directory_is_no_journal(config_dir: Path, tmp_path: Path) -> None:
    from config_files import edit

    from ivr.config import ConfigError, load_config

    (tmp_path / "journal").mkdir()
    edit(config_dir, "hotline.yaml", "journal: journal/fallback.log", "journal: journal")
    with pytest.raises(ConfigError, match="directory") as e:
        load_config(config_dir, {"HOTLINE_DATA_DIR": str(tmp_path)})
    assert e.value.item == "ami.journal"
