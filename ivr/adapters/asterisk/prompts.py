"""Prompt audio for Asterisk, spoken by espeak-ng and converted by sox.

config/prompts.yaml maps prompt -> {language: text}. Each becomes
<sounds_dir>/hotline/<lang>/<prompt>.wav, 8 kHz mono 16-bit PCM (what
format_wav plays without transcoding pain), so the dialplan and the FastAGI
handlers play `hotline/<lang>/<prompt>`. In the sandbox the sounds dir is
ROOT/usr/share/asterisk/sounds (astdatadir/sounds in Debian's asterisk.conf).

A sidecar `<prompt>.wav.sha256` holds the hash of text + voice + recipe, so an
unchanged prompt is not rebuilt.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

import yaml

from ivr.adapters.asterisk import names
from ivr.adapters.asterisk.errors import PromptError
from ivr.adapters.progress import progress

RECIPE = "espeak-ng -s 150 | sox rate 8000 channels 1 bits 16 v1"
VOICES = {"zh-CN": "cmn", "zh": "cmn", "cmn": "cmn", "en": "en", "en-US": "en-us"}
BEEP_NAME = "beep"


def voice_for(language: str) -> str:
    """The espeak-ng voice for a hotline language code (zh-CN -> cmn, en -> en)."""
    if language in VOICES:
        return VOICES[language]
    base = language.split("-")[0].lower()
    return VOICES.get(base, base)


def prompt_hash(text: str, voice: str) -> str:
    return hashlib.sha256(f"{RECIPE}\0{voice}\0{text}".encode()).hexdigest()


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise PromptError(f"{name} not found on PATH (Debian packages espeak-ng, sox)")
    return path


def _run(args: list[str], what: str) -> None:
    proc = subprocess.run(args, capture_output=True, text=True, check=False, timeout=120)
    if proc.returncode != 0:
        raise PromptError(f"{what} failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")


def speak(text: str, voice: str, target: Path) -> None:
    """Speak text into target as an 8 kHz mono 16-bit WAV."""
    with tempfile.TemporaryDirectory(prefix="hotline-tts-") as tmp:
        raw = Path(tmp) / "tts.wav"
        _run([_tool("espeak-ng"), "-v", voice, "-s", "150", "-w", str(raw), "--", text],
             f"espeak-ng voice {voice} for {target.name}")  # fmt: skip
        convert_wav(raw, target)


def convert_wav(source: Path, target: Path) -> None:
    """Any audio sox reads -> 8 kHz mono signed 16-bit WAV, written atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial.wav")
    _run([_tool("sox"), str(source), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer",
          str(partial)], f"sox conversion of {source.name}")  # fmt: skip
    partial.replace(target)


def beep(target: Path, frequency_hz: int = 1000, ms: int = 250) -> Path:
    """A short sine beep (8 kHz mono 16-bit WAV), e.g. before a recording."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial.wav")
    _run([_tool("sox"), "-n", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer",
          str(partial), "synth", f"{ms / 1000:.3f}", "sine", str(frequency_hz), "vol", "0.5"],
         f"sox beep {target}")  # fmt: skip
    partial.replace(target)
    return target


def _is_current(wav: Path, digest: str) -> bool:
    stamp = wav.with_name(wav.name + ".sha256")
    return wav.is_file() and stamp.is_file() and stamp.read_text().strip() == digest


def build_prompt(name: str, language: str, text: str, sounds_dir: Path) -> tuple[Path, bool]:
    """Build one prompt unless current; returns (path, rebuilt)."""
    if not name.replace("_", "").isalnum() or "/" in language or language.startswith("."):
        raise PromptError(f"prompt {name!r} / language {language!r}: not a plain file name")
    voice = voice_for(language)
    wav = sounds_dir / names.SOUNDS_SUBDIR / language / f"{name}.wav"
    digest = prompt_hash(text, voice)
    if _is_current(wav, digest):
        return wav, False
    speak(text, voice, wav)
    wav.with_name(wav.name + ".sha256").write_text(digest + "\n")
    return wav, True


def build_prompts(prompts: Mapping[str, Mapping[str, str]], sounds_dir: Path) -> list[Path]:
    """Build every prompt x language under sounds_dir/hotline/; return the paths built
    (rebuilt or created), unchanged prompts are skipped."""
    built = []
    todo = [
        (name, lang, str(text)) for name, texts in prompts.items() for lang, text in texts.items()
    ]
    for name, language, text in progress(todo, "prompts"):
        path, rebuilt = build_prompt(name, language, text, Path(sounds_dir))
        if rebuilt:
            built.append(path)
    return built


def prompt_paths(prompts: Mapping[str, Mapping[str, str]], sounds_dir: Path) -> list[Path]:
    """Where build_prompts puts each prompt (whether built now or before)."""
    base = Path(sounds_dir) / names.SOUNDS_SUBDIR
    return [base / lang / f"{name}.wav" for name, texts in prompts.items() for lang in texts]


def load_prompts_yaml(path: Path | str) -> dict[str, dict[str, str]]:
    """config/prompts.yaml -> {prompt: {lang: text}} (minimal reading)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PromptError(f"cannot read {path}: {exc}") from exc
    prompts = (data or {}).get("prompts")
    if not isinstance(prompts, dict):
        raise PromptError(f"{path}: no 'prompts' mapping")
    return {str(k): {str(lang): str(t) for lang, t in v.items()} for k, v in prompts.items()}
