"""The declared shape of every config file (ivr/config/schema.py): unknown keys refused
with a suggestion at every level of every file, types refused by item, and the same
models printed as JSON Schema by `hotline config schema`."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from config_files import edit

from cli.main import main
from ivr.config import ConfigError, load_config
from ivr.config.schema import FILES, CaseIvrModel, DeadlinesModel, WeekModel
from ivr.domain.calendar import WEEKDAYS
from ivr.domain.cases import CaseKind

SAMPLE = Path(__file__).resolve().parents[2] / "config"


def change(directory: Path, file: str, where: list[str | int], key: str, value: Any) -> None:
    """Set `key` to `value` in the mapping at `where` of one file (comments are lost)."""
    path = directory / file
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    node = data
    for part in where:
        node = node[part]
    node[key] = value
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def refusal(directory: Path) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        load_config(directory, env={})
    return err.value


# (file, the mapping's path, misspelt key, the item named, the key suggested)
UNKNOWN = [
    ("hotline.yaml", [], "sitee", "sitee", "site"),
    ("hotline.yaml", ["site"], "timezon", "site.timezon", "timezone"),
    ("hotline.yaml", ["fastagi"], "max_dialog", "fastagi.max_dialog", "max_dialogs"),
    ("hotline.yaml", ["twilio"], "numbrs", "twilio.numbrs", "numbers"),
    ("hotline.yaml", ["survey", "scale"], "hihg", "survey.scale.hihg", "high"),
    ("hotline.yaml", ["backup"], "kepe", "backup.kepe", "keep"),
    ("hotline.yaml", ["speech"], "min_confidense", "speech.min_confidense", "min_confidence"),
    ("calendar.yaml", [], "holiday", "holiday", "holidays"),
    ("calendar.yaml", ["open_hours"], "mond", "open_hours.mond", "mon"),
    ("calendar.yaml", ["holidays", 0], "open_branch", "holidays[0].open_branch", "open_branches"),
    ("calendar.yaml", ["makeup_days", 0], "work_as", "makeup_days[0].work_as", "works_as"),
    ("seats.yaml", [], "agent", "agent", "agents"),
    ("seats.yaml", ["agents", 0], "skils", "agents[0].skils", "skills"),
    ("seats.yaml", ["agents", 1, "shifts", 0], "hour", "agents[1].shifts[0].hour", "hours"),
    ("seats.yaml", ["oncall", 2], "agnet", "oncall[2].agnet", "agent"),
    ("routing.yaml", ["branches", "emergency"], "oncal", "branches.emergency.oncal", "oncall"),
    ("routing.yaml", ["branches", "repairs"], "hours", "branches.repairs.hours", None),
    ("routing.yaml", ["overflow"], "when_close", "overflow.when_close", "when_closed"),
    ("routing.yaml", ["vip"], "number", "vip.number", "numbers"),
    ("menu.yaml", [], "strat", "strat", "start"),
    ("menu.yaml", ["nodes", "main"], "promt", "nodes.main.promt", "prompt"),
    ("menu.yaml", ["nodes", "main"], "on_fail", "nodes.main.on_fail", "on_failure"),
    ("prompts.yaml", [], "prompt", "prompt", "prompts"),
    ("callbacks.yaml", ["calling_hours"], "timezones", "calling_hours.timezones", "timezone"),
    ("callbacks.yaml", ["calling_hours", "weekly"], "satu", "calling_hours.weekly.satu", "sat"),
    ("callbacks.yaml", ["dialer"], "burts", "dialer.burts", "burst"),
    ("callbacks.yaml", ["rules", "visitor"], "brnach", "rules.visitor.brnach", "branch"),
    ("cases.yaml", ["classes", "minor"], "escalate", "classes.minor.escalate", "escalate_at_once"),
    ("cases.yaml", ["terms", "on_site"], "hour", "terms.on_site.hour", "hours"),
    ("cases.yaml", ["deadlines"], "followup", "deadlines.followup", "follow_up"),
    ("cases.yaml", ["ivr"], "clas", "ivr.clas", "class"),
    ("cases.yaml", ["callbacks"], "on_don", "callbacks.on_don", "on_done"),
]


@pytest.mark.parametrize(("file", "where", "key", "item", "hint"), UNKNOWN)
def test_an_unknown_key_at_any_level_of_any_file_is_refused_with_a_suggestion(
    config_dir: Path, file: str, where: list[str | int], key: str, item: str, hint: str | None
) -> None:
    change(config_dir, file, where, key, True)
    err = refusal(config_dir)
    assert (err.file, err.item) == (file, item)
    assert err.reason.startswith(f"unknown key {key!r}")
    if hint:
        assert f"; did you mean {hint!r}?" in err.reason
    else:  # nothing close: the keys allowed there are listed
        assert "; known here: " in err.reason


def test_every_file_is_covered() -> None:
    assert set(FILES) == {p.name for p in SAMPLE.glob("*.yaml")}
    assert {f for f, *_ in UNKNOWN} == set(FILES)


def test_the_oncal_acceptance_case_exits_2_naming_file_key_and_suggestion(
    clean_env: pytest.MonkeyPatch, config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(config_dir, "routing.yaml", "oncall: true}", "oncal: true}")
    assert main(["check-config", "--config", str(config_dir)]) == 2
    out = capsys.readouterr()
    assert out.out == "" and "Traceback" not in out.err
    assert out.err.strip() == (
        "config error: routing.yaml: branches.emergency.oncal: "
        "unknown key 'oncal'; did you mean 'oncall'?"
    )


# (file, the mapping's path, key, bad value, item, reason)
TYPES = [
    ("routing.yaml", ["branches", "repairs"], "priority", "high", "branches.repairs.priority",
     "must be a whole number, got 'high'"),
    ("routing.yaml", ["branches", "emergency"], "oncall", "yes", "branches.emergency.oncall",
     "must be true or false, got 'yes'"),
    ("routing.yaml", ["branches", "repairs"], "priority", True, "branches.repairs.priority",
     "must be a whole number, got True"),
    ("hotline.yaml", ["fastagi"], "env_timeout_seconds", "5s", "fastagi.env_timeout_seconds",
     "must be a number, got '5s'"),
    ("hotline.yaml", ["site"], "languages", "zh-CN", "site.languages", "must be a list"),
    ("hotline.yaml", ["sip"], "seat_contacts", "dynamic", "sip.seat_contacts",
     "'dynamic' is not one of static, register"),
    ("calendar.yaml", ["holidays", 1], "date", "soon", "holidays[1].date",
     "'soon' is not a date (YYYY-MM-DD)"),
    ("calendar.yaml", ["makeup_days", 0], "works_as", "friday", "makeup_days[0].works_as",
     "'friday' is not one of mon, tue"),
    ("seats.yaml", ["agents", 2], "skills", {"a": 1}, "agents[2].skills", "must be a list"),
    ("seats.yaml", ["agents", 2], "role", "boss", "agents[2].role", "'boss' is not one of"),
    ("menu.yaml", ["nodes", "main"], "options", ["1"], "nodes.main.options", "must be a mapping"),
    ("menu.yaml", ["nodes", "main", "speech", "en"], "1", {"x": 1}, "nodes.main.speech.en.1",
     "must be text, got dict"),
    ("prompts.yaml", ["prompts", "welcome"], "en", ["a"], "prompts.welcome.en",
     "must be text, got list"),
    ("callbacks.yaml", ["dialer"], "burst", 1.5, "dialer.burst", "must be a whole number"),
    ("callbacks.yaml", ["rules", "visitor"], "kind", "soon", "rules.visitor.kind",
     "'soon' is not one of asap, next_day"),
    ("cases.yaml", ["terms", "on_site"], "hours", "many", "terms.on_site.hours",
     "must be a number, got 'many'"),
    ("cases.yaml", ["classes", "major"], "escalate_at_once", "no",
     "classes.major.escalate_at_once", "must be true or false"),
]  # fmt: skip


@pytest.mark.parametrize(("file", "where", "key", "value", "item", "reason"), TYPES)
def test_a_value_of_the_wrong_type_is_refused_by_item(
    config_dir: Path,
    file: str,
    where: list[str | int],
    key: str,
    value: Any,
    item: str,
    reason: str,
) -> None:
    change(config_dir, file, where, key, value)
    err = refusal(config_dir)
    assert (err.file, err.item) == (file, item)
    assert reason in err.reason


def test_a_missing_section_is_named(config_dir: Path) -> None:
    text = (config_dir / "routing.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    del data["staffing"]
    (config_dir / "routing.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    err = refusal(config_dir)
    assert (err.file, err.item, err.reason) == ("routing.yaml", "staffing", "missing")


def test_a_secret_in_yaml_is_refused_with_its_own_reason(config_dir: Path) -> None:
    change(config_dir, "hotline.yaml", ["ami"], "secret", "s3cret")
    err = refusal(config_dir)
    assert (err.file, err.item) == ("hotline.yaml", "ami.secret")
    assert "HOTLINE_AMI_SECRET" in err.reason and "unknown key" not in err.reason


def test_unquoted_numbers_stay_text_where_the_loaders_accept_them(config_dir: Path) -> None:
    edit(config_dir, "hotline.yaml", 'hotline_extension: "4000"', "hotline_extension: 4000")
    edit(config_dir, "menu.yaml", '"3": route:repairs', "3: route:repairs")
    cfg = load_config(config_dir, env={})
    assert cfg.site.hotline_extension == "4000"
    assert str(cfg.menu.node("main").options["3"]) == "route:repairs"


# Values the loaders read as "none" or "the default": the models must not refuse them.
NULLS = [
    ("routing.yaml", [], "vip"),
    ("routing.yaml", [], "presence"),
    ("hotline.yaml", ["twilio"], "refuse_prefixes"),
    ("hotline.yaml", ["survey"], "scale"),
    ("hotline.yaml", [], "survey"),
    ("hotline.yaml", [], "backup"),
    ("hotline.yaml", [], "speech"),
    ("calendar.yaml", [], "holidays"),
    ("seats.yaml", ["agents", 0], "skills"),
    ("callbacks.yaml", [], "do_not_call"),
    ("callbacks.yaml", ["retry"], "busy_backoff_minutes"),
    ("callbacks.yaml", ["calling_hours"], "timezone"),
    ("callbacks.yaml", ["calling_hours", "weekly"], "sun"),
    ("cases.yaml", ["classes"], "minor"),
    ("cases.yaml", [], "escalation"),
]


@pytest.mark.parametrize(("file", "where", "key"), NULLS)
def test_what_the_loaders_take_as_empty_still_loads(
    config_dir: Path, file: str, where: list[str | int], key: str
) -> None:
    change(config_dir, file, where, key, None)
    load_config(config_dir, env={})


def test_the_models_follow_the_domain_names() -> None:
    assert set(DeadlinesModel.model_fields) == {k.value for k in CaseKind}
    assert tuple(WeekModel.model_fields) == WEEKDAYS
    assert CaseIvrModel.model_fields["class_"].alias == "class"


# --- hotline config schema ---------------------------------------------------------------


def _json(value: Any) -> Any:
    """YAML data as an editor's YAML language server sees it (dates are text)."""
    return json.loads(
        json.dumps(value, default=lambda v: v.isoformat() if isinstance(v, date) else v)
    )


def sample(name: str) -> Any:
    return _json(yaml.safe_load((SAMPLE / name).read_text(encoding="utf-8")))


def printed(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert main(["config", "schema", *argv]) == 0
    out = capsys.readouterr()
    assert out.err == ""
    return json.loads(out.out)


@pytest.mark.parametrize("name", list(FILES))
def test_each_files_schema_is_valid_json_schema_and_the_sample_validates(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    schema = printed(capsys, "--file", name)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    jsonschema.Draft202012Validator(schema).validate(sample(name))


def test_the_schema_refuses_what_check_config_refuses(capsys: pytest.CaptureFixture[str]) -> None:
    every = {name: printed(capsys, "--file", name) for name in FILES}
    routing = sample("routing.yaml")
    routing["branches"]["emergency"]["oncal"] = True
    errors = list(jsonschema.Draft202012Validator(every["routing.yaml"]).iter_errors(routing))
    assert any("oncal" in e.message for e in errors)
    seats = sample("seats.yaml")
    seats["agents"][0]["shifts"][0]["hours"] = ["9-17"]  # an editor sees the window's form
    assert not jsonschema.Draft202012Validator(every["seats.yaml"]).is_valid(seats)
    seats["agents"][0]["shifts"][0]["hours"] = "09:00-17:00"  # one window, not a list: fine
    jsonschema.Draft202012Validator(every["seats.yaml"]).validate(seats)


def test_the_whole_directorys_schema_is_one_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    schema = printed(capsys)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["required"] == list(FILES)
    directory = {name: sample(name) for name in FILES}
    jsonschema.Draft202012Validator(schema).validate(directory)
    directory["menu.yaml"]["nodes"]["main"]["promt"] = "welcome"
    assert not jsonschema.Draft202012Validator(schema).is_valid(directory)


def test_an_unknown_file_name_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "schema", "--file", "nosuch.yaml"]) == 2
    assert "invalid choice" in capsys.readouterr().err


# The routing rules' keys (docs/ROUTING.md), misspelt where a rule, a target, a trunk
# or a rota sits: (file, the mapping set up, its path, misspelt key, item, suggestion)
RULE_SHAPES = [
    ("routing.yaml", ["branches", "repairs", "rules"],
     [{"when": {"windows": ["17:00-09:30"]}, "target": "voicemail", "targte": 1}],
     "branches.repairs.rules[0].targte", "target"),
    ("routing.yaml", ["branches", "repairs", "rules"],
     [{"when": {"window": ["17:00-09:30"]}, "target": "voicemail"}],
     "branches.repairs.rules[0].when.window", "windows"),
    ("routing.yaml", ["branches", "repairs", "rules"],
     [{"target": {"rotta": "night"}}],
     "branches.repairs.rules[0].target.rotta", "rota"),
    ("routing.yaml", ["operator"], {"rule": []}, "operator.rule", "rules"),
    ("routing.yaml", ["trunks"], {"carrier": {"hots": "127.0.0.1"}}, "trunks.carrier.hots",
     "host"),
    ("seats.yaml", ["rotas"], {"night": [{"agent": "li", "days": "all", "hour": "20:00-08:00"}]},
     "rotas.night[0].hour", "hours"),
]  # fmt: skip


@pytest.mark.parametrize(("file", "where", "value", "item", "hint"), RULE_SHAPES)
def test_unknown_keys_in_routing_rules_rotas_and_trunks_are_refused(
    config_dir: Path, file: str, where: list[str], value: Any, item: str, hint: str
) -> None:
    change(config_dir, file, where[:-1], where[-1], value)
    err = refusal(config_dir)
    assert (err.file, err.item) == (file, item)
    assert f"; did you mean {hint!r}?" in err.reason


def test_a_bare_rule_target_off_its_list_is_refused_naming_the_forms(config_dir: Path) -> None:
    change(config_dir, "routing.yaml", ["branches", "repairs"], "rules", [{"target": "operator"}])
    err = refusal(config_dir)
    assert err.item == "branches.repairs.rules[0].target"
    assert err.reason.startswith("'operator' is not a target: use voicemail or callback")
