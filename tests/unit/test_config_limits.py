"""The configuration as an attack surface: size, depth, alias and number limits,
refused in well under a second with exit 2, naming the file and the item."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from config_files import copy_sample
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.main import main
from ivr.config import ConfigError, load_config
from ivr.config.reader import MAX_FILE_BYTES, check_limits, read_yaml

SAMPLE = Path(__file__).resolve().parents[2] / "config"


def refused(d: Path, name: str, text: str) -> ConfigError:
    (d / name).write_text(text, encoding="utf-8")
    # CPU time of this thread, not the wall clock: a busy machine must not fail it,
    # and a refusal that recursed or parsed the whole file would still take seconds.
    started = time.thread_time()
    with pytest.raises(ConfigError) as err:
        load_config(d, env={})
    assert time.thread_time() - started < 2.0
    assert err.value.file == name
    return err.value


def test_a_huge_file_is_refused_before_it_is_read(config_dir: Path) -> None:
    text = "# comment\n" * (MAX_FILE_BYTES // 10 + 10)
    e = refused(config_dir, "calendar.yaml", text)
    assert "larger than" in e.reason


def test_deep_nesting_is_refused_without_recursion(config_dir: Path) -> None:
    e = refused(config_dir, "menu.yaml", "menu: " + "[" * 10_000 + "]" * 10_000 + "\n")
    assert "nested deeper" in e.reason
    assert e.item.startswith("menu")


def test_an_alias_as_a_key_is_refused(config_dir: Path) -> None:
    e = refused(config_dir, "routing.yaml", "a: &x [1, 2]\nb:\n  *x : 3\n")
    assert "alias" in e.reason and e.item == "b"


def test_a_list_as_a_key_is_refused(config_dir: Path) -> None:
    e = refused(config_dir, "routing.yaml", "b:\n  ? [1, 2]\n  : 3\n")
    assert "key must be plain text" in e.reason and e.item == "b"


def test_an_alias_bomb_is_refused(config_dir: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    e = refused(config_dir, "seats.yaml", "\n".join(lines) + "\n")
    assert "values in one file" in e.reason or "aliases" in e.reason


def test_a_5000_digit_number_names_file_and_item(config_dir: Path) -> None:
    text = (config_dir / "routing.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    branch = next(iter(data["branches"]))
    data["branches"][branch]["priority"] = 0
    dumped = yaml.safe_dump(data, allow_unicode=True).replace(
        "priority: 0", "priority: " + "9" * 5000, 1
    )
    e = refused(config_dir, "routing.yaml", dumped)
    assert e.item == f"branches.{branch}.priority"
    assert "5000 digits" in e.reason


def test_check_config_exits_2_naming_the_file(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (config_dir / "menu.yaml").write_text("menu: " + "[" * 5000 + "]" * 5000, encoding="utf-8")
    assert main(["check-config", "--config", str(config_dir)]) == 2
    err = capsys.readouterr().err
    assert "menu.yaml" in err and "nested deeper" in err and "Traceback" not in err


def test_anchors_and_aliases_within_limits_still_work(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("w: &w ['09:00-12:00']\nmon: *w\ntue: *w\n", encoding="utf-8")
    assert read_yaml(tmp_path, "x.yaml") == {"w": ["09:00-12:00"]} | {
        "mon": ["09:00-12:00"], "tue": ["09:00-12:00"]
    }  # fmt: skip


def test_merge_keys_merge_and_the_keys_beside_them_override(config_dir: Path) -> None:
    """`<<: *night` was refused as malformed YAML ("could not determine a constructor
    for the tag 'tag:yaml.org,2002:merge'"): the duplicate-key check met it first."""
    path = config_dir / "seats.yaml"
    text = path.read_text(encoding="utf-8")
    old = (
        '  - {agent: zhao, days: all, hours: ["20:00-08:00"]}\n'
        '  - {agent: li, days: all, hours: ["20:00-08:00"]}\n'
    )
    assert old in text
    new = (
        '  - &night {agent: zhao, days: all, hours: ["20:00-08:00"]}\n  - {<<: *night, agent: li}\n'
    )
    path.write_text(text.replace(old, new), encoding="utf-8")
    night = [
        (o.agent_id, str(o.shift.window)) for o in load_config(config_dir, env={}).roster.oncall
    ]
    assert ("li", "20:00-08:00") in night and ("zhao", "20:00-08:00") in night
    (tmp := config_dir / "x.yaml").write_text(
        "a: &a {k: 1}\nb: {<<: *a, <<: *a}\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="duplicate key '<<'"):
        read_yaml(tmp.parent, tmp.name)
    tmp.write_text("a: &a {k: 1, j: 2}\nb: {<<: *a, k: 3}\n", encoding="utf-8")
    assert read_yaml(tmp.parent, tmp.name)["b"] == {"k": 3, "j": 2}


def test_the_shipped_config_is_within_every_limit() -> None:
    for path in SAMPLE.glob("*.yaml"):
        check_limits(path.name, path.read_text(encoding="utf-8"))


yaml_text = st.text(
    alphabet=st.sampled_from(list("ab:-[]{}&*!?#|>'\"\n ,019.\t\\@%") + ["\u0000", "\ud800", "é"]),
    max_size=200,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(yaml_text)
def test_any_text_gives_a_mapping_or_a_config_error(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    d = tmp_path_factory.mktemp("y")
    (d / "f.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        data = read_yaml(d, "f.yaml")
    except ConfigError as e:
        assert e.file == "f.yaml"
    else:
        assert isinstance(data, dict)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["calendar.yaml", "seats.yaml", "routing.yaml", "menu.yaml", "callbacks.yaml"]),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
        ),
        max_leaves=30,
    ),
)
def test_any_value_in_a_section_loads_or_is_refused_by_name(
    tmp_path_factory: pytest.TempPathFactory, name: str, doc: object
) -> None:
    """Replace a whole file's first section with arbitrary YAML data: the loader
    either accepts it or refuses it with a ConfigError naming a file (another file
    when the change broke a reference, e.g. a menu target); nothing else escapes."""
    d = copy_sample(tmp_path_factory.mktemp("z") / "config")
    data = yaml.safe_load((d / name).read_text(encoding="utf-8"))
    first = next(iter(data))
    data[first] = doc
    (d / name).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    try:
        load_config(d, env={})
    except ConfigError as e:
        assert e.file in {p.name for p in SAMPLE.glob("*.yaml")}
        assert e.reason


def test_a_long_identifier_of_hex_letters_is_text_not_a_number(tmp_path: Path) -> None:
    from ivr.config.reader import read_yaml

    sid = "AC" + "0" * 32
    (tmp_path / "x.yaml").write_text(f"sid: {sid}\nn: 0x{'f' * 40}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="a number of 42 digits"):
        read_yaml(tmp_path, "x.yaml")
    (tmp_path / "x.yaml").write_text(f"sid: {sid}\n", encoding="utf-8")
    assert read_yaml(tmp_path, "x.yaml") == {"sid": sid}


def test_numbers_yaml_would_alter_are_read_as_the_text_written(tmp_path: Path) -> None:
    """YAML 1.1 reads 0400 as octal 256, +86138... without its '+' and 12:30 as 750:
    an extension, a phone number or a time silently became another one."""
    (tmp_path / "x.yaml").write_text(
        "a: [0400, 01012345670, +8613800000001, +86, 12:30, 1:30.5, -0123, 00.5]\n"
        "b: [0, 14, -5, 0.5, 0x10, 1_000, 1.0e+3]\n+1808: x\n",
        encoding="utf-8",
    )
    data = read_yaml(tmp_path, "x.yaml")
    assert data["a"] == [
        "0400", "01012345670", "+8613800000001", "+86", "12:30", "1:30.5", "-0123", "00.5"
    ]  # fmt: skip
    assert data["b"] == [0, 14, -5, 0.5, 16, 1000, 1000.0]
    assert data["+1808"] == "x"


@pytest.mark.parametrize(
    ("name", "old", "new", "read"),
    [
        (  # a do-not-call number written nationally: was +86136956856, someone else
            "callbacks.yaml", 'numbers: ["+8613700000000"]', "numbers: [01012345670]",
            lambda c: c.callbacks.do_not_call == {"+861012345670"},
        ),
        (  # a foreign do-not-call number: was +8612125550100 (site.region CN)
            "callbacks.yaml", 'numbers: ["+8613700000000"]', "numbers: [+12125550100]",
            lambda c: c.callbacks.do_not_call == {"+12125550100"},
        ),
        (  # the Twilio caller ID: was +8614155550100
            "hotline.yaml", 'numbers: ["+14155550100"]', "numbers: [+14155550100]",
            lambda c: c.twilio.numbers == ("+14155550100",),
        ),
        (  # the extension that reaches the IVR: was 256
            "hotline.yaml", 'hotline_extension: "4000"', "hotline_extension: 0400",
            lambda c: c.site.hotline_extension == "0400",
        ),
        (  # was refused as 750
            "hotline.yaml", "every: 24h", "daily: 12:30",
            lambda c: str(c.backup.daily) == "12:30:00",
        ),
    ],
)  # fmt: skip
def test_an_unquoted_number_keeps_its_digits(
    config_dir: Path, name: str, old: str, new: str, read: Any
) -> None:
    path = config_dir / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    assert read(load_config(config_dir, env={}))


def test_a_setting_written_with_a_leading_zero_is_refused_by_name(config_dir: Path) -> None:
    text = (config_dir / "hotline.yaml").read_text(encoding="utf-8")
    e = refused(config_dir, "hotline.yaml", text.replace("keep: 14 ", "keep: 014 ", 1))
    assert e.item == "backup.keep" and "'014'" in e.reason


# --- numbers that load but break the service later: refused by name ------------------


@pytest.mark.parametrize(
    ("name", "old", "new", "item", "reason"),
    [
        (
            "routing.yaml",
            "within_days: 7",
            "within_days: 10000000000000000000000",
            "repeat_caller.within_days",
            "at most",
        ),
        (
            "routing.yaml",
            "within_days: 7",
            "within_days: 999999999",
            "repeat_caller.within_days",
            "at most",
        ),
        (
            "callbacks.yaml",
            "[10, 30, 120]",
            "[10, 30, 1.0e+300]",
            "retry.backoff_minutes[2]",
            "at most",
        ),
        ("callbacks.yaml", "[10, 30, 120]", "[10, 30, .inf]", "retry.backoff_minutes[2]", "finite"),
        (
            "callbacks.yaml",
            "expire_after_hours: 168",
            "expire_after_hours: 99999999999999",
            "retry.expire_after_hours",
            "at most",
        ),
        (
            "callbacks.yaml",
            "poll_seconds: 0.5",
            "poll_seconds: .nan",
            "dialer.poll_seconds",
            "finite",
        ),
        (
            "callbacks.yaml",
            "trunk_port: 5080",
            "trunk_port: 70000",
            "dialer.trunk_port",
            "at most 65535",
        ),
        (
            "menu.yaml",
            "timeout_seconds: 5",
            "timeout_seconds: .nan",
            "nodes.main.timeout_seconds",
            "finite",
        ),
        (
            "menu.yaml",
            "timeout_seconds: 5",
            "timeout_seconds: .inf",
            "nodes.main.timeout_seconds",
            "finite",
        ),
        ("hotline.yaml", "port: 4573", "port: 999999999999", "fastagi.port", "at most 65535"),
        ("hotline.yaml", "port: 5038", "port: 65536", "ami.port", "at most 65535"),
        ("hotline.yaml", "port: 8080", "port: 80800", "web.port", "at most 65535"),
        (
            "hotline.yaml",
            "env_timeout_seconds: 5",
            "env_timeout_seconds: .inf",
            "fastagi.env_timeout_seconds",
            "finite",
        ),
        (
            "hotline.yaml",
            "url: sqlite:///hotline.db",
            "url: mysql://x@y/z",
            "database.url",
            "SQLite or PostgreSQL",
        ),
        (
            "hotline.yaml",
            "url: sqlite:///hotline.db",
            "url: 'postgresql://[::1'",
            "database.url",
            "not a database URL",
        ),
    ],
)
def test_a_number_or_url_the_service_cannot_use_is_refused_by_name(
    config_dir: Path, name: str, old: str, new: str, item: str, reason: str
) -> None:
    text = (config_dir / name).read_text(encoding="utf-8")
    assert text.count(old) == 1
    e = refused(config_dir, name, text.replace(old, new))
    assert e.item == item and reason in e.reason


def test_a_bad_database_url_in_the_environment_names_the_variable(config_dir: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(config_dir, env={"HOTLINE_DATABASE_URL": "postgresql://u:pw@[::1/x"})
    assert (e.value.file, e.value.item) == ("environment", "HOTLINE_DATABASE_URL")
    assert "pw" not in str(e.value)  # a URL may hold a password: never echoed


@pytest.mark.parametrize(
    "url", ["sqlite:///:memory:", "sqlite://", "sqlite:///file:x?mode=memory&uri=true"]
)
def test_an_in_memory_database_is_refused_it_would_keep_nothing(config_dir: Path, url: str) -> None:
    """Every command 'succeeded' against it ("callback 1 added") and kept nothing."""
    with pytest.raises(ConfigError) as e:
        load_config(config_dir, env={"HOTLINE_DATABASE_URL": url})
    assert (e.value.file, e.value.item) == ("environment", "HOTLINE_DATABASE_URL")
    assert "in-memory" in e.value.reason
    path = config_dir / "hotline.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("url: sqlite:///hotline.db", f'url: "{url}"'), encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(config_dir, env={})
    assert (e.value.file, e.value.item) == ("hotline.yaml", "database.url")


def test_a_shared_data_directory_is_refused_not_made_0700(config_dir: Path, tmp_path: Path) -> None:
    """HOTLINE_DATA_DIR=/tmp: `hotline callbacks list` made /tmp 0700 (every other user
    locked out); a sticky or world-writable directory, or the root, is refused."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    for where in (shared, Path("/")):
        with pytest.raises(ConfigError) as e:
            load_config(config_dir, env={"HOTLINE_DATA_DIR": str(where)})
        assert (e.value.file, e.value.item) == ("environment", "HOTLINE_DATA_DIR")
        assert "shared by every user" in e.value.reason
    assert shared.stat().st_mode & 0o7777 == 0o1777
    load_config(config_dir, env={"HOTLINE_DATA_DIR": str(tmp_path / "own")})  # not there yet


@pytest.mark.parametrize("where", ["/var", "/etc", "/var/lib", "/usr"])
def test_a_system_directory_as_data_directory_is_refused(config_dir: Path, where: str) -> None:
    """With HOTLINE_DATA_DIR unset, a service run from / (systemd's default working
    directory) took ./var, that is /var, and made it 0700."""
    with pytest.raises(ConfigError) as e:
        load_config(config_dir, env={"HOTLINE_DATA_DIR": where})
    assert (e.value.file, e.value.item) == ("environment", "HOTLINE_DATA_DIR")
    assert "a directory of the system" in e.value.reason


def test_a_nul_byte_is_refused_on_one_line(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (config_dir / "menu.yaml").write_bytes((config_dir / "menu.yaml").read_bytes() + b"\x00")
    assert main(["check-config", "--config", str(config_dir)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("config error: menu.yaml: malformed YAML") and err.count("\n") == 1


def test_a_directory_in_place_of_a_file_is_named_as_such(config_dir: Path) -> None:
    (config_dir / "seats.yaml").unlink()
    (config_dir / "seats.yaml").mkdir()
    with pytest.raises(ConfigError) as e:
        load_config(config_dir, env={})
    assert e.value.file == "seats.yaml" and "a directory, not a file" in e.value.reason


def test_an_unreadable_file_is_named(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(self: Path, *args: object, **kwargs: object) -> str:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", denied)  # root reads a mode-000 file anyway
    with pytest.raises(ConfigError) as e:
        read_yaml(config_dir, "routing.yaml")
    assert e.value.file == "routing.yaml" and "Permission denied" in e.value.reason


def test_holidays_of_more_days_than_any_calendar_needs_are_refused_quickly(
    config_dir: Path,
) -> None:
    """Each holiday spans at most a year, but many could still fill millions of days."""
    text = (config_dir / "calendar.yaml").read_text(encoding="utf-8")
    years = "".join(
        f"  - {{date: {y}-01-01, to: {y}-12-31, name: closed}}\n" for y in range(2030, 2060)
    )
    e = refused(config_dir, "calendar.yaml", text.replace("holidays:\n", f"holidays:\n{years}", 1))
    assert e.item == "holidays[27]" and "more than 10000 holiday days" in e.reason
