"""Configuration: the sample loads; each broken file is refused naming file, item and reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from config_files import copy_sample, edit

from cli.main import main
from ivr.config import ConfigError, HotlineConfig, load_config
from ivr.domain.menu import REQUIRED_PROMPTS
from ivr.domain.routing import RouteKind

SAMPLE_CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
CHEN_SHIFTS = '      - {days: workdays, hours: ["09:30-11:30", "13:00-17:00"]}\n  - id: li\n'


def chen_shifts(*entries: str) -> str:
    return "".join(f"      - {e}\n" for e in entries) + "  - id: li\n"


@dataclass(frozen=True)
class Broken:
    file: str
    old: str
    new: str
    item: str  # ConfigError.item (a path, or a line for YAML syntax)
    reason: str  # a fragment of ConfigError.reason


BROKEN = {
    "unknown-target": Broken(
        "menu.yaml",
        '"1": route:enquiries',
        '"1": route:nosuch',
        "nodes.main.options.1",
        "unknown target route:nosuch: no branch 'nosuch' in routing.yaml",
    ),
    "unknown-menu-node": Broken(
        "menu.yaml",
        '"9": callback',
        '"9": menu:billing',
        "nodes.main.options.9",
        "no menu node 'billing'",
    ),
    "unreachable-node": Broken(
        "menu.yaml",
        "    on_failure: operator",
        "    on_failure: operator\n"
        "  orphan:\n"
        "    prompt: welcome\n"
        '    options: {"1": callback}\n'
        "    on_failure: operator",
        "nodes.orphan",
        "menu node 'orphan' is unreachable",
    ),
    "duplicate-yaml-key": Broken(
        "routing.yaml",
        "  enquiries: {skill: enquiries, priority: 1}",
        "  enquiries: {skill: enquiries, priority: 1}\n  enquiries: {skill: repairs, priority: 2}",
        "line 4, column 3",
        "duplicate key 'enquiries' (first at line 3)",
    ),
    "overlapping-shifts": Broken(
        "seats.yaml",
        CHEN_SHIFTS,
        chen_shifts(
            '{days: workdays, hours: ["09:00-12:00"]}',
            '{days: workdays, hours: ["11:00-13:00"]}',
        ),
        "agents[1].shifts[1].hours[0]",
        "shift workdays 11:00-13:00 overlaps shift workdays 09:00-12:00 of chen",
    ),
    "overlapping-windows-in-one-shift": Broken(
        "seats.yaml",
        CHEN_SHIFTS,
        chen_shifts('{days: workdays, hours: ["09:00-12:00", "11:00-13:00"]}'),
        "agents[1].shifts[0].hours[1]",
        "11:00-13:00 overlaps 09:00-12:00",
    ),
    "night-shift-overlaps-next-morning": Broken(
        "seats.yaml",
        CHEN_SHIFTS,
        chen_shifts(
            '{days: workdays, hours: ["22:00-06:00"]}',
            '{days: workdays, hours: ["05:00-09:00"]}',
        ),
        "agents[1].shifts[1].hours[0]",
        "shift workdays 05:00-09:00 overlaps shift workdays 22:00-06:00 of chen",
    ),
    "monday-night-overlaps-tuesday-morning": Broken(
        "seats.yaml",
        CHEN_SHIFTS,
        chen_shifts(
            '{days: [mon], hours: ["22:00-06:00"]}',
            '{days: [tue], hours: ["05:00-09:00"]}',
        ),
        "agents[1].shifts[1].hours[0]",
        "shift tue 05:00-09:00 overlaps shift mon 22:00-06:00 of chen",
    ),
    "overlapping-on-call": Broken(
        "seats.yaml",
        '  - {agent: li, days: all, hours: ["20:00-08:00"]}',
        '  - {agent: li, days: all, hours: ["20:00-08:00"]}\n'
        '  - {agent: li, days: [sun], hours: ["07:00-09:00"]}',
        "oncall[4].hours[0]",
        "of li (on call)",
    ),
    "bad-time-window": Broken(
        "calendar.yaml",
        'mon: ["09:30-11:30", "13:00-17:00"]',
        'mon: ["09:30-11:30", "9:00-25:00"]',
        "open_hours.mon[1]",
        "'9:00-25:00': '25:00' is not a valid time of day",
    ),
    "bad-shift-window": Broken(
        "seats.yaml",
        'hours: ["13:00-17:00"]}',
        'hours: ["13:00"]}',
        "agents[5].shifts[0].hours[0]",
        "'13:00' is not of the form HH:MM-HH:MM",
    ),
    "unknown-time-zone": Broken(
        "hotline.yaml",
        "timezone: Asia/Shanghai",
        "timezone: Mars/Olympus_Mons",
        "site.timezone",
        "unknown time zone 'Mars/Olympus_Mons'",
    ),
    "time-zone-path": Broken(
        "hotline.yaml",
        "timezone: Asia/Shanghai",
        "timezone: ../../etc/passwd",
        "site.timezone",
        "unknown time zone",
    ),
    # files of the zone directory that are no zone: this machine's zone (the config
    # would mean another hour elsewhere), the leap-second and POSIX copies
    **{
        f"not-a-zone-{key}": Broken(
            "hotline.yaml",
            "timezone: Asia/Shanghai",
            f"timezone: {key}",
            "site.timezone",
            "time zone",
        )
        for key in ("localtime", "Factory", "posixrules", "right/Asia/Shanghai", "posix/UTC")
    },  # fmt: skip
    "malformed-yaml": Broken(
        "seats.yaml",
        "skills: [enquiries, complaints, repairs]",
        "skills: [enquiries, complaints, repairs",
        "line ",
        "malformed YAML",
    ),
    "unknown-branch-skill": Broken(
        "routing.yaml",
        "repairs: {skill: repairs, priority: 3}",
        "repairs: {skill: plumbing, priority: 3}",
        "branches.repairs.skill",
        "no agent in seats.yaml has skill 'plumbing'",
    ),
    "duplicate-seat": Broken(
        "seats.yaml",
        "seat: seat3",
        "seat: seat2",
        "agents[2].seat",
        "seat 'seat2' is given to two agents",
    ),
    "two-leads": Broken(
        "seats.yaml",
        "name: Chen Jing\n    role: ordinary",
        "name: Chen Jing\n    role: lead",
        "agents",
        "more than one team lead",
    ),
    "on-call-unknown-agent": Broken(
        "seats.yaml",
        "{agent: li, days: all",
        "{agent: lee, days: all",
        "oncall[3].agent",
        "unknown agent 'lee'",
    ),
    "makeup-on-a-holiday": Broken(
        "calendar.yaml",
        "{date: 2026-10-10, works_as: fri",
        "{date: 2026-10-03, works_as: fri",
        "makeup_days[0].date",
        "2026-10-03 is also a holiday",
    ),
    "holiday-ends-before-it-starts": Broken(
        "calendar.yaml",
        "{date: 2026-05-01, to: 2026-05-05",
        "{date: 2026-05-05, to: 2026-05-01",
        "holidays[2].to",
        "2026-05-01 is before 2026-05-05",
    ),
    "holiday-of-decades": Broken(  # a typo of the year: closed for 36 years, 8 s to load
        "calendar.yaml",
        "{date: 2026-10-01, to: 2026-10-07",
        "{date: 2026-10-01, to: 2062-10-07",
        "holidays[3].to",
        "a holiday of 13156 days (2026-10-01 to 2062-10-07): at most 366",
    ),
    "holiday-to-the-end-of-time": Broken(
        "calendar.yaml",
        "{date: 2026-10-01, to: 2026-10-07",
        "{date: 2026-10-01, to: 9999-12-31",
        "holidays[3].to",
        "at most 366",
    ),
    "holidays-overlap": Broken(  # 10-03 lost the open branches of National Day
        "calendar.yaml",
        "  - {date: 2026-10-01, to: 2026-10-07, name: National Day}\n",
        "  - {date: 2026-10-01, to: 2026-10-07, name: National Day, open_branches: [emergency]}\n"
        "  - {date: 2026-10-03, name: Other}\n",
        "holidays[4].date",
        "2026-10-03 is already the holiday 'National Day'",
    ),
    "makeup-day-twice": Broken(  # works as fri, then as mon: the first one lost
        "calendar.yaml",
        "  - {date: 2026-10-10, works_as: fri, name: National Day make-up day}\n",
        "  - {date: 2026-10-10, works_as: fri, name: National Day make-up day}\n"
        "  - {date: 2026-10-10, works_as: mon}\n",
        "makeup_days[1].date",
        "2026-10-10 is already a make-up day",
    ),
    "web-on-fastagi-port": Broken(  # accepted: `hotline up` then failed binding the web
        "hotline.yaml",
        "port: 8080",
        "port: 4573",
        "web.port",
        "port 4573 is also fastagi.port's on 127.0.0.1",
    ),
    "speech-on-web-port": Broken(
        "hotline.yaml",
        "audio_port: 4580",
        "audio_port: 8080",
        "speech.audio_port",
        "port 8080 is also web.port's",
    ),
    "extension-too-long": Broken(  # accepted; the dialplan's renderer refused it at start
        "hotline.yaml",
        'hotline_extension: "4000"',
        f'hotline_extension: "{"4" * 33}"',
        "site.hotline_extension",
        "33 digits: at most 32",
    ),
    "extension-of-the-baseline": Broken(  # two `exten => 4999,1` in one context
        "hotline.yaml",
        'hotline_extension: "4000"',
        'hotline_extension: "4999"',
        "site.hotline_extension",
        "an extension of the dialplan's own",
    ),
    # accepted by check-config, refused when `hotline up` rendered Asterisk's config
    "fastagi-host-ipv6": Broken(
        "hotline.yaml",
        "fastagi:\n  host: 127.0.0.1",
        'fastagi:\n  host: "::1"',
        "fastagi.host",
        "not a host Asterisk's config takes",
    ),
    "sip-host-too-long": Broken(
        "hotline.yaml",
        "sip:\n  host: 127.0.0.1",
        f"sip:\n  host: {'a' * 60}.example.com",
        "sip.host",
        "not a host Asterisk's config takes",
    ),
    "customer-dial-with-options": Broken(
        "callbacks.yaml",
        'customer_dial: "PJSIP/{number}@customers"',
        'customer_dial: "PJSIP/{number}@customers,30"',
        "dialer.customer_dial",
        "only A-Z",
    ),
    "customer-trunk-ipv6": Broken(
        "callbacks.yaml",
        "trunk_host: 127.0.0.1",
        'trunk_host: "::1"',
        "dialer.trunk_host",
        "not a host Asterisk's config takes",
    ),
    "customer-trunk-underscore": Broken(
        "callbacks.yaml",
        "trunk_host: 127.0.0.1",
        "trunk_host: sip_trunk",
        "dialer.trunk_host",
        "no '_'",
    ),
    "routing-trunk-ipv6": Broken(
        "routing.yaml",
        "presence:\n",
        'trunks:\n  carrier: {host: "2001:db8::1"}\npresence:\n',
        "trunks.carrier.host",
        "not a host Asterisk's config takes",
    ),
    "bad-menu-key": Broken(
        "menu.yaml",
        '"9": callback',
        '"10": callback',
        "nodes.main.options.10",
        "key '10' is not one of 0-9, * or #",
    ),
    "language-not-offered": Broken(
        "menu.yaml",
        '"8": language:en',
        '"8": language:fr',
        "nodes.main.options.8",
        "language 'fr' not in site.languages",
    ),
    "missing-prompt": Broken(
        "prompts.yaml",
        "  invalid:\n",
        "  invalid_x:\n",
        "prompts.invalid",
        "prompt 'invalid' is used but not defined",
    ),
    "prompt-missing-a-language": Broken(
        "prompts.yaml",
        '    en: "Sorry, that is not a valid choice."\n',
        "",
        "prompts.invalid",
        "no text for language(s) ['en']",
    ),
    "overflow-kind": Broken(
        "routing.yaml",
        "when_closed: callback",
        "when_closed: queue",
        "overflow.when_closed",
        "'queue' is not one of callback, voicemail",
    ),
    "missing-item": Broken(
        "routing.yaml",
        "  max_wait_seconds: 120\n",
        "",
        "overflow.max_wait_seconds",
        "missing",
    ),
}


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    return copy_sample(tmp_path / "config")


# --- the sample ----------------------------------------------------------------------------


def test_sample_config_loads(sample_config: HotlineConfig) -> None:
    cfg = sample_config
    assert cfg.site.tz.key == "Asia/Shanghai"
    assert cfg.site.default_language == "zh-CN"
    assert cfg.site.languages == ("zh-CN", "en")
    assert [a.id for a in cfg.roster.agents] == ["lead", "chen", "li", "zhang", "liu", "zhao"]
    assert len(cfg.roster.oncall) == 4
    assert len(cfg.calendar.holidays) == 1 + 7 + 5 + 7
    assert set(cfg.calendar.makeup_days) == {date(2026, 10, 10)}
    assert set(cfg.policy.branches) == {"enquiries", "complaints", "repairs", "emergency"}
    assert cfg.policy.branches["emergency"].oncall
    assert cfg.policy.vip_boost == 5
    assert cfg.policy.when_closed is RouteKind.CALLBACK
    assert cfg.menu.start == "main"
    assert set(REQUIRED_PROMPTS) <= set(cfg.prompts)
    assert cfg.queues == ("enquiries", "complaints", "repairs", "emergency", "operator")
    assert cfg.seat_position("seat1") == 1 and cfg.seat_position("seat6") == 6
    assert (cfg.fastagi.host, cfg.fastagi.port) == ("127.0.0.1", 4573)


def test_check_config_accepts_the_sample(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", "--config", str(SAMPLE_CONFIG_DIR)]) == 0
    out = capsys.readouterr()
    assert ": OK" in out.out
    assert "time zone Asia/Shanghai" in out.out
    assert "agents: 6" in out.out
    assert out.err == ""


def test_check_config_reads_hotline_config_from_the_environment(
    clean_env: pytest.MonkeyPatch, config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(config_dir, "hotline.yaml", "timezone: Asia/Shanghai", "timezone: Nowhere/City")
    clean_env.setenv("HOTLINE_CONFIG", str(config_dir))
    assert main(["check-config"]) == 2
    assert "unknown time zone 'Nowhere/City'" in capsys.readouterr().err


def test_check_config_warns_about_staffing_gaps(
    clean_env: pytest.MonkeyPatch, config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Without li on the night rota only one person is on call every night, every week.
    edit(config_dir, "seats.yaml", '  - {agent: li, days: all, hours: ["20:00-08:00"]}\n', "")
    assert main(["check-config", "--config", str(config_dir)]) == 0
    out = capsys.readouterr().out
    assert "warning: staffing below the minimum" in out
    assert "(1 of 2)" in out


# --- broken configurations ------------------------------------------------------------------


@pytest.mark.parametrize("case", list(BROKEN.values()), ids=list(BROKEN))
def test_broken_config_is_refused_with_file_item_and_reason(config_dir: Path, case: Broken) -> None:
    edit(config_dir, case.file, case.old, case.new)
    with pytest.raises(ConfigError) as info:
        load_config(config_dir, env={})
    err = info.value
    assert err.file == case.file
    assert err.item.startswith(case.item)
    assert case.reason in err.reason


@pytest.mark.parametrize("case", list(BROKEN.values()), ids=list(BROKEN))
def test_check_config_exits_non_zero_naming_file_item_and_reason(
    clean_env: pytest.MonkeyPatch,
    config_dir: Path,
    capsys: pytest.CaptureFixture[str],
    case: Broken,
) -> None:
    edit(config_dir, case.file, case.old, case.new)
    assert main(["check-config", "--config", str(config_dir)]) != 0
    out = capsys.readouterr()
    assert "OK" not in out.out
    assert out.err.startswith("config error: ")
    assert f"{case.file}: {case.item}" in out.err
    assert case.reason in out.err


def test_shifts_on_separate_nights_do_not_clash(config_dir: Path) -> None:
    edit(
        config_dir,
        "seats.yaml",
        CHEN_SHIFTS,
        chen_shifts(
            '{days: [mon], hours: ["22:00-06:00"]}',
            '{days: [tue], hours: ["06:00-09:00"]}',
            '{days: holidays, hours: ["09:00-17:00"]}',
            '{days: workdays, hours: ["10:00-12:00"]}',
        ),
    )
    cfg = load_config(config_dir, env={})
    chen = cfg.roster.agent("chen")
    assert chen is not None and len(chen.shifts) == 4


def test_missing_file_is_named(config_dir: Path) -> None:
    (config_dir / "prompts.yaml").unlink()
    with pytest.raises(ConfigError) as info:
        load_config(config_dir, env={})
    assert info.value.file == "prompts.yaml"
    assert "missing" in info.value.reason


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config directory not found"):
        load_config(tmp_path / "nowhere")


@pytest.mark.parametrize("name", ["x" * 5000, "conf\0ig", "a/" + "b" * 300])
def test_a_directory_name_the_system_refuses_is_a_config_error(name: str) -> None:
    """Too long, a NUL, a component over NAME_MAX: a ConfigError, not an OSError."""
    with pytest.raises(ConfigError) as info:
        load_config(name)
    assert "directory" in info.value.reason and len(str(info.value)) < 400  # not echoed whole


def test_config_error_message_format() -> None:
    assert (
        str(ConfigError("seats.yaml", "agents[0].seat", "bad")) == "seats.yaml: agents[0].seat: bad"
    )
    assert str(ConfigError("menu.yaml", "", "empty")) == "menu.yaml: empty"


# --- environment overrides -----------------------------------------------------------------


def test_database_url_override(tmp_path: Path) -> None:
    url = "postgresql+psycopg://hotline@db.example/hotline"
    cfg = load_config(SAMPLE_CONFIG_DIR, env={"HOTLINE_DATABASE_URL": url})
    assert cfg.database_url == url


def test_relative_sqlite_url_lives_in_the_data_dir(tmp_path: Path) -> None:
    cfg = load_config(SAMPLE_CONFIG_DIR, env={"HOTLINE_DATA_DIR": str(tmp_path)})
    assert cfg.database_url == f"sqlite:///{tmp_path / 'hotline.db'}"
    assert cfg.data_dir == tmp_path.resolve()
    cfg = load_config(
        SAMPLE_CONFIG_DIR,
        env={"HOTLINE_DATA_DIR": str(tmp_path), "HOTLINE_DATABASE_URL": "sqlite:///other.db"},
    )
    assert cfg.database_url == f"sqlite:///{tmp_path / 'other.db'}"
    cfg = load_config(SAMPLE_CONFIG_DIR, env={"HOTLINE_DATABASE_URL": "sqlite:////abs/h.db"})
    assert cfg.database_url == "sqlite:////abs/h.db"


# --- FastAGI limits ------------------------------------------------------------------------


def test_fastagi_limits_default_when_absent(config_dir: Path) -> None:
    edit(config_dir, "hotline.yaml", "  max_dialogs: 2000\n", "")
    edit(config_dir, "hotline.yaml", "  env_timeout_seconds: 5\n", "")
    cfg = load_config(edit(config_dir, "hotline.yaml", "  max_line_bytes: 8192\n", ""), env={})
    assert (cfg.fastagi.host, cfg.fastagi.port) == ("127.0.0.1", 4573)
    assert (cfg.fastagi.max_dialogs, cfg.fastagi.env_timeout_seconds) == (2000, 5.0)
    assert cfg.fastagi.max_line_bytes == 8192


def test_fastagi_limits_are_read(config_dir: Path) -> None:
    edit(config_dir, "hotline.yaml", "  max_dialogs: 2000\n", "  max_dialogs: 40\n")
    cfg = load_config(
        edit(config_dir, "hotline.yaml", "env_timeout_seconds: 5\n", "env_timeout_seconds: 1.5\n"),
        env={},
    )
    assert (cfg.fastagi.max_dialogs, cfg.fastagi.env_timeout_seconds) == (40, 1.5)


@pytest.mark.parametrize(
    ("old", "new", "item"),
    [
        ("max_dialogs: 2000", "max_dialogs: 0", "fastagi.max_dialogs"),
        ("env_timeout_seconds: 5", "env_timeout_seconds: -1", "fastagi.env_timeout_seconds"),
        ("max_line_bytes: 8192", "max_line_bytes: 10", "fastagi.max_line_bytes"),
    ],
)
def test_bad_fastagi_limit_is_refused(config_dir: Path, old: str, new: str, item: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(edit(config_dir, "hotline.yaml", old, new), env={})
    assert (e.value.file, e.value.item) == ("hotline.yaml", item)


# --- menus: the short re-prompt and silences (issue 10) ------------------------------


def test_a_reprompt_without_a_prompt_text_is_refused(config_dir: Path) -> None:
    edit(config_dir, "menu.yaml", "reprompt: menu_short", "reprompt: menu_shrt")
    with pytest.raises(ConfigError) as e:
        load_config(config_dir)
    assert e.value.file == "prompts.yaml" and e.value.item == "prompts.menu_shrt"


@pytest.mark.parametrize(
    "value, reason", [("4", "at most 3"), ("-1", "at least 0"), ("two", "whole number")]
)
def test_max_timeouts_is_bounded_by_the_attempts(config_dir: Path, value: str, reason: str) -> None:
    edit(config_dir, "menu.yaml", "max_timeouts: 2", f"max_timeouts: {value}")
    with pytest.raises(ConfigError) as e:
        load_config(config_dir)
    assert e.value.item == "nodes.main.max_timeouts" and reason in e.value.reason
