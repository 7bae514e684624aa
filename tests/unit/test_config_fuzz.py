"""Every YAML setting attacked, for the class of input, generic over the shipped files.

For config/ and each config/examples/* hotline, every node of every *.yaml file (each
scalar, each list, each mapping; not the top level) is replaced, one at a time, by
hostile values: null, true, 0, -1, 2**63, 10**400, 1.5, .nan, .inf, -.inf, "", " ",
100 000 x's, text holding NUL, CR LF, U+202E (a bidirectional override), fullwidth
digits "１２", a list, a mapping, a list nested 500 deep, the date-like "2026-02-30";
every mapping also gets an unknown key. The file is written back (yaml.safe_dump,
allow_unicode) into a copy of the directory and `load_config` is called. A new setting
in a shipped file is attacked without a change here.

What is sampled: the product (node x value) is ~37 000 loads, too many for one run, so
every node gets VALUES_PER_NODE values, chosen round-robin from an offset that a
random.Random seeded with the file's path picks: each value class reaches every file
(a file has more nodes than there are classes / VALUES_PER_NODE), the choice is the
same on every run, and every mapping gets its unknown key besides. The files the
change leaves alone are parsed once (`read_yaml` memoised by content); the changed
file goes through the real reader. About 4 000 loads, ~30 s on the reference machine.

The verdict for each load:
- it loads, and then the configuration is sane: every number finite and not
  negative (no NaN, infinity or negative duration or count), every text free of the
  characters the one text rule refuses (NUL, CR, bidirectional overrides...; line
  feeds are allowed only in prompts) and shorter than the 100 kB value, the dialled
  extension in ASCII digits; or
- it is refused with a ConfigError whose `file` is one of the directory's yaml
  files, whose `item` is not empty and is related to the change (RELATED below),
  and whose message is one line of bounded length (the 100 kB value is not echoed);
- nothing else escapes (TypeError, OSError, RecursionError, KeyError...).

RELATED: the item names the change when
 (a) it is in the changed file and is the changed path, an ancestor or a descendant
     of it, or shares with it an ancestor at most two levels up (a setting checked
     against its neighbour: survey.scale.high against scale.low, not_resolved_key
     against the scale);
 (b) it is a reference: the item (in any file) holds, or is named by, a value the
     changed node held (a skill renamed: the branch that asks for it; a language
     removed: the prompt without a text for it), or names the new value (a prompt
     the menu now uses and prompts.yaml lacks);
 (c) the change is under hotline.yaml `site:` (time zone, region, languages: every
     file is read with them), when any item of any file may be the one refused.

Keys used as names (every mapping key: branch, rota, trunk, case class, term, rule,
prompt, menu node and option names, languages, weekdays...) are attacked the same way
by `test_every_key_loads_sanely_or_is_refused_by_name`, generic over the files as
well: every key of every mapping (the top level's too) is renamed, one at a time, to
one of KEY_VALUES: "", " ", 100 000 x's, text holding NUL, CR LF, U+202E, fullwidth
digits, the YAML keys 0, true and null (non-text keys), "a b", "a,b", "${X}" and
"../x"; and every mapping's first item is copied besides under one of them (a new
name that nothing refers to: renamed, a rota or a term that a rule refers to only
leaves the rule dangling, and the name's own check is never reached). A key equal
as text to a sibling's (0 beside "0") is skipped: a mapping cannot hold a name twice
(test_config_keys.py has that case). One value per key, round-robin from an offset
seeded by the file's path as above: about 1 650 loads (under half the time the
values take), each class reaching every file. The verdict is the same; for RELATED
the change is both the old key's path and the new key's, and (b) counts an item
that names the old key, or held it (a `route:<branch>`, a `{rota: <name>}`,
`start:`, an `open_branches` list: a rename leaves these dangling). Accepted, the
configuration must besides be sane in its names: every key of every mapping (text, a
date, an enum), and every field holding a name (NAME_FIELDS: ids, seats, skills,
rotas, languages), not blank, without spaces around it, free of the refused
characters, at most MAX_NAME characters.

The defects both found are pinned in `test_a_defect_found_stays_fixed` (a file under
config/examples/ named by its path below config/).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import random
import re
import shutil
from collections.abc import Iterator, Mapping
from datetime import date, timedelta
from enum import Enum
from pathlib import Path, PurePath
from typing import Any

import pytest
import yaml

import ivr.config.callbacks
import ivr.config.cases
import ivr.config.hotline
from ivr.config import ConfigError, HotlineConfig, load_config
from ivr.config.errors import one_line
from ivr.config.reader import read_yaml
from ivr.domain.text import bad_character

CONFIG = Path(__file__).resolve().parents[2] / "config"
DIRS = [CONFIG, *sorted(p for p in (CONFIG / "examples").iterdir() if p.is_dir())]
VALUES_PER_NODE = 2
HUGE = "x" * 100_000
DEEP = "ZZDEEPZZ"  # written as a list nested 500 deep
UNKNOWN_KEY = "zz_fuzz_unknown"

VALUES: dict[str, Any] = {
    "null": None,
    "true": True,
    "zero": 0,
    "minus one": -1,
    "2**63": 2**63,
    "10**400": 10**400,
    "1.5": 1.5,
    "nan": math.nan,
    "inf": math.inf,
    "-inf": -math.inf,
    "empty": "",
    "space": " ",
    "100 kB": HUGE,
    "NUL": "a\0b",
    "CR LF": "a\r\nb",
    "bidi": "\u202eab",
    "fullwidth": "\uff11\uff12",
    "list": [1, "a"],
    "mapping": {"k": "v"},
    "500 deep": DEEP,
    "bad date": "2026-02-30",
}
KEY_VALUES: dict[str, Any] = {  # the text-like values as keys, and names Asterisk mangles
    **{name: VALUES[name] for name in ("empty", "space", "100 kB", "NUL", "CR LF", "bidi")},
    **{name: VALUES[name] for name in ("fullwidth", "zero", "true", "null")},
    **{text: text for text in ("a b", "a,b", "${X}", "../x")},
}
KEY = "key "  # Case.value of a renamed key: "key " + a name of KEY_VALUES
COPY = "copy "  # Case.value of a mapping's first item copied under COPY + a KEY_VALUES name
MAX_NAME = 64  # the longest name (NAME's; an agent id's)
# Fields of the loaded configuration that hold a name (besides every mapping's keys).
NAME_FIELDS = frozenset(
    {"id", "seat", "skill", "skills", "rota", "rotas", "agent", "languages", "default_language"}
)
Path_ = tuple[str | int, ...]


# --- the YAML files as trees ---------------------------------------------------------


def nodes(data: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    """Every node below the top level, parents first."""
    if path:
        yield path, data
    if isinstance(data, dict):
        for k, v in data.items():
            yield from nodes(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from nodes(v, (*path, i))


def at(data: Any, path: Path_) -> Any:
    for part in path:
        data = data[part]
    return data


def item_of(path: Path_) -> str:
    """('nodes', 'main', 'options', 1) -> 'nodes.main.options[1]', the loaders' way."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def parts_of(item: str) -> list[str]:
    return [m.group(1) or m.group(2) for m in re.finditer(r"\[(\d+)\]|\.?([^.\[]+)", item)]


def scalars(data: Any) -> Iterator[str]:
    if isinstance(data, dict):
        for v in data.values():
            yield from scalars(v)
    elif isinstance(data, list):
        for v in data:
            yield from scalars(v)
    elif data is not None:
        yield str(data)


def mappings(data: Any, path: Path_ = ()) -> Iterator[tuple[Path_, dict[Any, Any]]]:
    """Every mapping, the top level's included, parents first."""
    if isinstance(data, dict):
        yield path, data
    if isinstance(data, dict | list):
        for k, v in data.items() if isinstance(data, dict) else enumerate(data):
            yield from mappings(v, (*path, k))


def renamed(mapping: dict[Any, Any], old: Any, new: Any) -> dict[Any, Any]:
    """`mapping` with its key `old` named `new`, in the same place."""
    return {(new if k == old else k): v for k, v in mapping.items()}


def mutated_text(original: Any, path: Path_, value: str) -> str:
    """The file's text with the node at `path` attacked by `value` (a Case's value)."""
    data = copy.deepcopy(original)
    if value == "unknown key":
        at(data, path)[UNKNOWN_KEY] = 1
    elif value.startswith(KEY):
        new = renamed(at(data, path[:-1]), path[-1], KEY_VALUES[value[len(KEY) :]])
        if len(path) == 1:
            data = new
        else:
            at(data, path[:-2])[path[-2]] = new
    elif value.startswith(COPY):
        parent = at(data, path[:-1])
        parent[KEY_VALUES[value[len(COPY) :]]] = copy.deepcopy(parent[path[-1]])
    else:
        at(data, path[:-1])[path[-1]] = VALUES[value]
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1 << 20)
    return text.replace(DEEP, "[" * 500 + "]" * 500)


# --- the sample -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    file: str
    path: Path_
    value: str  # a key of VALUES, "unknown key", or KEY or COPY + a key of KEY_VALUES

    def __str__(self) -> str:
        if self.value.startswith(KEY):
            return f"{self.file}: key {item_of(self.path)} renamed {self.value[len(KEY) :]}"
        if self.value.startswith(COPY):
            return f"{self.file}: {item_of(self.path)} copied as {self.value[len(COPY) :]}"
        return f"{self.file}: {item_of(self.path)} = {self.value}"

    @property
    def keyed(self) -> bool:
        """A key renamed, or an item copied under a new key."""
        return self.value.startswith((KEY, COPY))

    @property
    def new(self) -> Any:
        """The value or the key written in."""
        if self.keyed:
            return KEY_VALUES[self.value.split(" ", 1)[1]]
        return VALUES.get(self.value)


def sample(directory: Path) -> list[Case]:
    names = list(VALUES)
    out = []
    for file in sorted(p.name for p in directory.glob("*.yaml")):
        data = yaml.safe_load((directory / file).read_text(encoding="utf-8"))
        rng = random.Random(f"{directory.relative_to(CONFIG.parent)}/{file}")
        start = rng.randrange(len(names))
        for i, (path, node) in enumerate(nodes(data)):
            for j in range(VALUES_PER_NODE):
                out.append(Case(file, path, names[(start + i * VALUES_PER_NODE + j) % len(names)]))
            if isinstance(node, dict):
                out.append(Case(file, path, "unknown key"))
    return out


def sample_keys(directory: Path) -> list[Case]:
    """Every key of every mapping renamed to one of KEY_VALUES, and every mapping's
    first item copied under one (round-robin as above)."""
    names = list(KEY_VALUES)
    out = []
    for file in sorted(p.name for p in directory.glob("*.yaml")):
        data = yaml.safe_load((directory / file).read_text(encoding="utf-8"))
        rng = random.Random(f"{directory.relative_to(CONFIG.parent)}/{file} keys")
        i = rng.randrange(len(names))
        for path, mapping in mappings(data):
            for n, key in enumerate(mapping):
                for kind in (KEY, COPY) if n == 0 else (KEY,):
                    name = names[i % len(names)]
                    i += 1
                    if str(KEY_VALUES[name]) not in map(str, mapping):  # a sibling's: none
                        out.append(Case(file, (*path, key), kind + name))
    return out


# --- the verdict ------------------------------------------------------------------------


def walk(value: Any, where: str = "config") -> Iterator[tuple[str, Any]]:
    """Every leaf of the loaded configuration (dataclasses, mappings, collections)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from walk(getattr(value, f.name), f"{where}.{f.name}")
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from walk(k, f"{where}[key]")
            yield from walk(v, f"{where}[{k!r:.40}]")
    elif isinstance(value, tuple | list | frozenset | set):
        for i, v in enumerate(value):
            yield from walk(v, f"{where}[{i}]")
    elif isinstance(value, PurePath):
        yield where, str(value)
    elif not callable(value) or isinstance(value, Enum):
        yield where, value


def bad_name(v: Any) -> str | None:
    """Why `v`, a name (a mapping's key, an id, a skill...), is none, or None."""
    if isinstance(v, date | Enum):  # holidays by date, deadlines by case kind
        return None
    if not isinstance(v, str):
        return f"{v!r} ({type(v).__name__}) is not text"
    bad = bad_character(v)
    if bad is not None:
        return f"holds {bad}: {v[:40]!r}"
    if not v.strip() or v != v.strip():
        return f"{v[:40]!r} is blank or has spaces around it"
    if len(v) > MAX_NAME:
        return f"{len(v)} characters: {v[:40]!r}..."
    return None


def insane(cfg: HotlineConfig) -> str | None:
    """Why an accepted configuration is not sane, or None."""
    for where, v in walk(cfg):
        field_name = re.sub(r"(\[[^]]*\])+$", "", where).rsplit(".", 1)[-1]
        if where.endswith("[key]") or field_name in NAME_FIELDS:
            problem = bad_name(v)
            if problem is not None:
                return f"{where[:200]}: name {problem}"
        if isinstance(v, Enum):
            v = v.value
        if isinstance(v, bool):
            continue
        if isinstance(v, float) and not math.isfinite(v):
            return f"{where} = {v}"
        if isinstance(v, int | float) and v < 0:
            return f"{where} = {v}: negative"
        if isinstance(v, timedelta) and v < timedelta(0):
            return f"{where} = {v}: negative"
        if isinstance(v, str):
            text = where.startswith("config.prompts[") and not where.endswith("[key]")
            allowed = "\n" if text else ""
            bad = bad_character(v, allowed)
            if bad is not None:
                return f"{where[:200]} holds {bad}: {v[:40]!r}"
            if len(v) >= len(HUGE):
                return f"{where[:200]}: {len(v)} characters"
    ext = cfg.site.hotline_extension
    if not (ext.isascii() and ext.isdigit()):
        return f"site.hotline_extension {ext!r} is not a dial string"
    return None


def near(changed: Path_, item: list[str]) -> bool:
    """(a) of RELATED: `item` is `changed`, an ancestor, a descendant or a near relative."""
    parts = [one_line(str(p)) for p in changed]
    common = 0
    for a, b in zip(parts, item, strict=False):
        if a != b:
            break
        common += 1
    return common in (len(parts), len(item)) or common >= len(parts) - 2


def held_at(data: Any, item: list[str]) -> Any:
    """The original value at an error's item (menu keys are text "1", list indexes
    numbers), or None."""
    for part in item:
        if isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        elif isinstance(data, dict) and part in data:
            data = data[part]
        else:
            return None
    return data


def refers_to(value: Any, name: str) -> bool:
    """`value` names `name`: itself, `route:<name>` and the like, or a list holding it."""
    if isinstance(value, list):
        return any(refers_to(v, name) for v in value)
    return isinstance(value, str) and (value == name or value.endswith(f":{name}"))


def related(case: Case, e: ConfigError, originals: Mapping[str, Any]) -> bool:
    """RELATED of the module's docstring."""
    item = parts_of(e.item)
    if case.keyed:  # a rename or a copy: the old key's path, the new one's
        old = str(case.path[-1])
        if e.file == case.file and (
            near(case.path, item) or near((*case.path[:-1], str(case.new)), item)
        ):
            return True
        if old in item or refers_to(held_at(originals[e.file], item), old):  # (b)
            return True
        return case.file == "hotline.yaml" and case.path[0] == "site"  # (c)
    changed = [str(p) for p in case.path]
    if e.file == case.file and near(case.path, item):  # (a)
        return True
    held = set(scalars(at(originals[case.file], case.path)))  # (b)
    if held & set(item):
        return True
    if str(held_at(originals[e.file], item)) in held:  # a value held where the item is
        return True
    new = case.new
    if isinstance(new, str | int | float) and one_line(str(new))[:40] in e.item:
        return True
    return case.file == "hotline.yaml" and changed[0] == "site"  # (c)


def verdict(directory: Path, work: Path, case: Case, originals: Mapping[str, Any]) -> str | None:
    """What is wrong with loading `case` (written into `work`, a copy of `directory`)."""
    original = (directory / case.file).read_text(encoding="utf-8")
    text = mutated_text(originals[case.file], case.path, case.value)
    (work / case.file).write_text(text, encoding="utf-8")
    try:
        cfg = load_config(work, env={})
    except ConfigError as e:
        message = str(e)
        if e.file not in originals:
            return f"refused naming file {e.file!r}"
        if not e.item:
            return f"refused without an item: {message[:200]}"
        if "\n" in message or "\r" in message or len(message) > 1200 or "x" * 300 in message:
            return f"message not one bounded line ({len(message)} chars): {message[:200]!r}"
        if not related(case, e, originals):
            return f"refused at an unrelated item: {message[:200]}"
        return None
    except Exception as e:  # noqa: BLE001 (anything else escaping is the defect looked for)
        return f"{type(e).__name__}: {str(e)[:200]}"
    finally:
        (work / case.file).write_text(original, encoding="utf-8")
    problem = insane(cfg)
    return f"accepted, but {problem}" if problem else None


@pytest.fixture
def parse_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """`read_yaml` memoised by file content: the unchanged files are parsed once."""
    seen: dict[tuple[str, bytes], Any] = {}

    def cached(directory: Path, name: str) -> dict[str, Any]:
        try:
            key = (name, (Path(directory) / name).read_bytes())
        except OSError:
            return read_yaml(directory, name)
        if key not in seen:
            seen[key] = read_yaml(directory, name)
        return copy.deepcopy(seen[key])

    for module in (ivr.config.hotline, ivr.config.callbacks, ivr.config.cases):
        monkeypatch.setattr(module, "read_yaml", cached)


def copy_of(directory: Path, dest: Path) -> tuple[Path, dict[str, Any]]:
    shutil.copytree(directory, dest, ignore=shutil.ignore_patterns("asterisk", "examples"))
    originals = {
        p.name: yaml.safe_load(p.read_text(encoding="utf-8")) for p in directory.glob("*.yaml")
    }
    return dest, originals


@pytest.mark.usefixtures("parse_once")
@pytest.mark.parametrize("directory", DIRS, ids=lambda d: d.relative_to(CONFIG.parent).as_posix())
def test_every_setting_loads_sanely_or_is_refused_by_name(directory: Path, tmp_path: Path) -> None:
    work, originals = copy_of(directory, tmp_path / "config")
    cases = sample(directory)
    assert {c.file for c in cases} == set(originals)
    for file in originals:  # each value class reaches every file
        assert {c.value for c in cases if c.file == file} >= set(VALUES), file
    problems = []
    for case in cases:
        problem = verdict(directory, work, case, originals)
        if problem:
            problems.append(f"{case}: {problem}")
    assert not problems, f"{len(problems)} of {len(cases)}:\n" + "\n".join(problems[:30])


@pytest.mark.usefixtures("parse_once")
@pytest.mark.parametrize("directory", DIRS, ids=lambda d: d.relative_to(CONFIG.parent).as_posix())
def test_every_key_loads_sanely_or_is_refused_by_name(directory: Path, tmp_path: Path) -> None:
    work, originals = copy_of(directory, tmp_path / "config")
    cases = sample_keys(directory)
    assert {c.file for c in cases} == set(originals)
    for file in originals:  # each key class reaches every file
        assert {c.new for c in cases if c.file == file} >= set(KEY_VALUES.values()), file
    problems = []
    for case in cases:
        problem = verdict(directory, work, case, originals)
        if problem:
            problems.append(f"{case}: {problem}")
    assert not problems, f"{len(problems)} of {len(cases)}:\n" + "\n".join(problems[:60])


# --- the defects found, each pinned ---------------------------------------------------------

DEFECTS = [
    # an OSError (file name too long) from ZoneInfo escaped as a traceback
    ("hotline.yaml", ("site", "timezone"), "100 kB"),
    ("callbacks.yaml", ("calling_hours", "timezone"), "100 kB"),
    # a NUL in the do-not-call file's name: ValueError escaped
    ("callbacks.yaml", ("do_not_call", "file"), "NUL"),
    # the 100 kB value echoed whole in the message; CR LF in it split it over lines
    ("calendar.yaml", ("open_hours", "mon", 0), "100 kB"),
    ("menu.yaml", ("nodes", "main", "prompt"), "CR LF"),
    ("callbacks.yaml", ("do_not_call", "file"), "CR LF"),
    # accepted: control and bidi characters, blank or huge text in names and prompts
    ("hotline.yaml", ("site", "name"), "NUL"),
    ("hotline.yaml", ("site", "name"), "100 kB"),
    ("calendar.yaml", ("holidays", 0, "name"), "bidi"),
    ("calendar.yaml", ("makeup_days", 0, "name"), "CR LF"),
    ("seats.yaml", ("agents", 0, "id"), "NUL"),
    ("seats.yaml", ("agents", 0, "id"), "empty"),
    ("seats.yaml", ("agents", 0, "name"), "bidi"),
    ("seats.yaml", ("agents", 0, "skills", 0), "CR LF"),
    ("prompts.yaml", ("prompts", "welcome", "en"), "NUL"),
    ("prompts.yaml", ("prompts", "welcome", "en"), "bidi"),
    ("prompts.yaml", ("prompts", "welcome", "en"), "100 kB"),
    ("prompts.yaml", ("prompts", "welcome", "en"), "empty"),
    ("prompts.yaml", ("prompts", "welcome"), "unknown key"),
    ("cases.yaml", ("classes", "major", "definition"), "bidi"),
    ("cases.yaml", ("ivr", "matter"), "bidi"),
    ("callbacks.yaml", ("intake", "matter"), "NUL"),
    ("callbacks.yaml", ("intake", "matter"), "space"),
    # accepted: hosts, user and seat names Asterisk or a socket cannot take
    ("hotline.yaml", ("fastagi", "host"), "CR LF"),
    ("hotline.yaml", ("ami", "host"), "empty"),
    ("hotline.yaml", ("ami", "username"), "CR LF"),
    ("hotline.yaml", ("sip", "host"), "NUL"),
    ("hotline.yaml", ("web", "host"), "space"),
    ("callbacks.yaml", ("dialer", "trunk_host"), "CR LF"),
    ("seats.yaml", ("agents", 0, "seat"), "fullwidth"),
    ("seats.yaml", ("agents", 0, "seat"), "100 kB"),
    ("seats.yaml", ("agents", 0, "seat"), "minus one"),
    ("hotline.yaml", ("site", "hotline_extension"), "fullwidth"),
    # accepted: an empty journal name (the data directory itself), CR LF in a path
    ("hotline.yaml", ("ami", "journal"), "empty"),
    ("hotline.yaml", ("backup", "directory"), "CR LF"),
    # accepted: 0 or "" taken as "no calling window", 0 as "no branch"
    ("callbacks.yaml", ("calling_hours", "weekly", "mon"), "zero"),
    ("callbacks.yaml", ("calling_hours", "weekly", "mon"), "empty"),
    ("callbacks.yaml", ("rules", "visitor", "branch"), "zero"),
    # keys: accepted, a callback rule named blank, 100 kB, or holding NUL, CR LF or U+202E
    ("callbacks.yaml", ("rules", "reply"), KEY + "space"),
    ("callbacks.yaml", ("rules", "reply"), KEY + "100 kB"),
    ("callbacks.yaml", ("rules", "reply"), KEY + "NUL"),
    ("callbacks.yaml", ("rules", "reply"), KEY + "CR LF"),
    ("callbacks.yaml", ("rules", "reply"), KEY + "bidi"),
    # keys: accepted, a deadline term, a rota and a trunk named with 100 000 characters
    ("cases.yaml", ("terms", "on_site"), COPY + "100 kB"),
    ("examples/property/seats.yaml", ("rotas", "concierge"), COPY + "100 kB"),
    ("examples/utility/routing.yaml", ("trunks", "carrier"), COPY + "100 kB"),
]


@pytest.mark.usefixtures("parse_once")
@pytest.mark.parametrize(("file", "path", "value"), DEFECTS, ids=lambda x: str(x))
def test_a_defect_found_stays_fixed(tmp_path: Path, file: str, path: Path_, value: str) -> None:
    directory = (CONFIG / file).parent  # config/, or one of config/examples/
    file = Path(file).name
    work, originals = copy_of(directory, tmp_path / "config")
    case = Case(file, path, value)
    assert verdict(directory, work, case, originals) is None
    text = mutated_text(originals[file], path, value)
    (work / file).write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as e:  # each of these is refused, by name
        load_config(work, env={})
    assert e.value.item and len(str(e.value)) < 600
