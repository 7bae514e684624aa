"""Exceptions of the Asterisk adapter: one base, specific subclasses.

Every message names the thing that was wrong (the command, the file, the port).
"""


class AsteriskError(Exception):
    """Base of every error raised by the Asterisk sandbox, templates and SIPp harness."""


class SandboxBuildError(AsteriskError):
    """Building the Debian root with Asterisk failed (debootstrap, apt)."""


class SandboxNotBuiltError(AsteriskError):
    """The sandbox root does not exist or was built by another recipe."""


class AsteriskNotRunningError(AsteriskError):
    """Asterisk in the sandbox does not answer on its control socket."""


class AsteriskStartError(AsteriskError):
    """Asterisk did not start, or did not become ready in time."""


class TemplateError(AsteriskError):
    """A configuration template or a value placed into one is invalid."""


class SippError(AsteriskError):
    """SIPp could not be started, or its output could not be read."""


class PromptError(AsteriskError):
    """A prompt could not be spoken or converted to an Asterisk sound file."""
