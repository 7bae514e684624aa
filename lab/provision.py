"""Bring the sandbox Asterisk up for a hotline configuration."""

from __future__ import annotations

from ivr.adapters.asterisk.prompts import build_prompts
from ivr.bootstrap import Runtime, asterisk_settings, fallback_journal_file
from ivr.dialer import asterisk_conf
from lab.sandbox import Sandbox, SandboxStatus


def provision_sandbox(runtime: Runtime, sandbox: Sandbox | None = None) -> SandboxStatus:
    """Bring the sandbox Asterisk up for this configuration: build the root once,
    speak the prompts, render the templates (callback dialplan and trunk
    included) and start Asterisk, or reload it when it already runs. The fallback
    journal's directory is shown inside the root at its own path, so Asterisk
    (chrooted) and the service write and read the same file."""
    box = sandbox or Sandbox()
    box.build()
    box.share(fallback_journal_file(runtime.config).parent)
    build_prompts(runtime.config.prompts, box.sounds_dir)
    box.render(asterisk_settings(runtime.config))
    asterisk_conf.install_into(box.config_dir, runtime.config.callbacks.dialer)
    box.start()
    return box.status()
