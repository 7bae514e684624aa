"""Where a running hotline's rendered Asterisk configuration lives, for a reload.

`hotline up` gives the sandbox's etc/asterisk (and its sounds); `hotline serve
--asterisk-dir DIR` an Asterisk's own. A reload writes the files whose text changed
(0600: they hold the AMI secret and the seat password) and names the Asterisk
modules to reload so that Asterisk reads them; calls in progress are not touched by any of
them (queue members added over AMI are dynamic and survive a reload of app_queue).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ivr.adapters.asterisk.prompts import build_prompts
from ivr.adapters.files import write_private

# File -> the Asterisk module that reads it again (AMI `Reload` with `Module`, the
# same as `module reload` on the CLI; the AMI user has the `system` write class it
# needs, not `command`). The other templates (modules, logger, rtp, cdr) do not
# depend on the hotline's configuration. app_queue's reload keeps dynamic members
# (the ones QueueSync adds) and the callers waiting and talking.
RELOAD_MODULES = {
    "pjsip.conf": "res_pjsip.so",
    "pjsip_callbacks.conf": "res_pjsip.so",
    "extensions.conf": "pbx_config.so",
    "extensions_callbacks.conf": "pbx_config.so",
    "queues.conf": "app_queue.so",
    "voicemail.conf": "app_voicemail.so",
    "manager.conf": "manager",
}


def reload_modules(changed: list[str]) -> list[str]:
    """The Asterisk modules to reload for these changed files, once each, in a fixed
    order (endpoints before the dialplan that dials them, queues after both)."""
    order = list(dict.fromkeys(RELOAD_MODULES.values()))
    wanted = {RELOAD_MODULES[name] for name in changed if name in RELOAD_MODULES}
    return [module for module in order if module in wanted]


@dataclass(frozen=True)
class AsteriskConfDir:
    directory: Path
    sounds_dir: Path | None = None  # where the prompts are spoken into (the sandbox's)

    def write(
        self, files: Mapping[str, str], prompts: Mapping[str, Mapping[str, str]]
    ) -> list[str]:
        """Write the files whose text differs from what is there; speak new prompts.
        Returns the names of the files written (prompts are not listed: Asterisk
        reads a sound when it plays it)."""
        changed = []
        for name, text in files.items():
            path = self.directory / name
            try:
                same = path.read_text(encoding="utf-8") == text
            except (OSError, UnicodeDecodeError):
                same = False
            if not same:
                write_private(path, text)
                changed.append(name)
        if self.sounds_dir is not None:
            build_prompts(prompts, self.sounds_dir)
        return changed
