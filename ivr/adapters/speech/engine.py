"""vosk, behind two small classes: the models (one per language, loaded once) and
a decoder per listening window, restricted to the menu's phrases (a grammar).

Decoding with a grammar runs at a real-time factor of about 0.04 on the 2-core
reference machine (1.4-2.0 without one), so the recogniser always passes one.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivr.config.errors import ConfigError
from ivr.domain.speech import confidence

log = logging.getLogger(__name__)
SAMPLE_RATE = 8000
# Words of the decoding graph that are no words: vosk aborts the whole process
# (an assertion in its grammar builder) when a grammar holds one.
RESERVED_WORDS = frozenset({"<eps>"})


def reserved(phrase: str) -> str | None:
    """The first word of `phrase` that no grammar may hold, or None.

    >>> reserved("불만 접수"), reserved("불만 <eps>"), reserved("[unk]")
    (None, '<eps>', None)
    """
    return next((w for w in phrase.split() if w in RESERVED_WORDS), None)


@dataclass(frozen=True)
class Heard:
    """One utterance: what was recognised (the grammar's words) and how sure."""

    phrase: str
    confidence: float


class Models:
    """The vosk models by language, loaded at start-up (a model is hundreds of MB)."""

    def __init__(self, dirs: Mapping[str, Path]) -> None:
        from vosk import Model, SetLogLevel

        SetLogLevel(-2)  # not even warnings: "[unk]" is missing from some models (README, Speech)
        self._models: dict[str, Any] = {}
        for language, path in dirs.items():
            started = time.perf_counter()
            try:
                self._models[language] = Model(str(path))
            except Exception as e:  # noqa: BLE001 - vosk raises a bare Exception
                raise ConfigError(
                    "hotline.yaml", f"speech.models.{language}", f"not a vosk model: {path} ({e})"
                ) from None
            log.info(
                "speech model %s from %s in %.1f s", language, path, time.perf_counter() - started
            )

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self._models)

    def decoder(self, language: str, grammar: Sequence[str]) -> Decoder:
        if language not in self._models:
            raise KeyError(f"no speech model for {language!r}")
        if word := next((w for p in grammar if (w := reserved(p))), None):
            raise ValueError(f"the grammar holds {word!r}, which is no word")
        return Decoder(self._models[language], grammar)


class Decoder:
    """One listening window. `feed` takes 16-bit 8 kHz audio and returns an utterance
    once vosk's end-pointer closes one (empty ones, silence, are skipped)."""

    def __init__(self, model: Any, grammar: Sequence[str]) -> None:
        from vosk import KaldiRecognizer

        self._rec = KaldiRecognizer(
            model, SAMPLE_RATE, json.dumps(list(grammar), ensure_ascii=False)
        )
        self._rec.SetWords(True)
        self.busy_s = 0.0  # CPU-side time spent decoding (the real-time factor's numerator)
        self.audio_s = 0.0

    def feed(self, pcm: bytes) -> Heard | None:
        started = time.perf_counter()
        try:
            if not self._rec.AcceptWaveform(pcm):
                return None
            return _heard(self._rec.Result())
        finally:
            self.busy_s += time.perf_counter() - started
            self.audio_s += len(pcm) / (2 * SAMPLE_RATE)

    def finish(self) -> Heard | None:
        return _heard(self._rec.FinalResult())


def _heard(result_json: str) -> Heard | None:
    result = json.loads(result_json)
    text = " ".join(str(result.get("text", "")).split())
    if not text:
        return None
    words = [float(w.get("conf", 0.0)) for w in result.get("result", [])]
    return Heard(text, confidence(words))
