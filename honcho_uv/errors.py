"""Every exception honcho_uv raises on purpose.

::

    HuError                         base; ``code`` is the stable wire string, ``exit_code`` the CLI's
    ├── ConfigError                 the user's input is wrong; the message names the file, line or flag
    │   ├── ProcfileError           .path .lineno: missing, unreadable, malformed or empty Procfile
    │   ├── EnvFileError            .path: an env file that is missing (when named) or unreadable
    │   └── InvalidOption           a bad flag or field value (formation, port, signal, template field)
    ├── UnknownProcess              a name that is not in the Procfile / the Manager   (HTTP 404)
    ├── StateError                  an operation illegal in the current state          (HTTP 409)
    ├── SpawnError                  a child could not be started; __cause__ is the OSError
    ├── ExportError                 an export could not be rendered or written
    └── ControlError                talking to a running hu or daemon failed
        └── NotRunning              no hu is listening where we looked

A child's exit is never an exception: it is an :class:`~honcho_uv.models.ExitStatus`.
Operating-system errors are wrapped at the edge with ``raise X(...) from exc``.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ControlError",
    "EnvFileError",
    "ExportError",
    "HuError",
    "InvalidOption",
    "NotRunning",
    "ProcfileError",
    "SpawnError",
    "StateError",
    "UnknownProcess",
]


class HuError(Exception):
    """Base of every error honcho_uv raises on purpose."""

    code = "error"
    exit_code = 1
    http_status = 400


class ConfigError(HuError):
    """The user's input (a file, a flag, a template field) is wrong."""

    code = "config_error"


class ProcfileError(ConfigError):
    """A Procfile problem; ``str()`` reads ``path:line: message`` when the line is known."""

    code = "procfile_error"

    def __init__(self, message: str, path: str = "Procfile", lineno: int | None = None):
        self.path = path
        self.lineno = lineno
        self.reason = message
        self.problems: list[ProcfileError] = [self]
        where = f"{path}:{lineno}" if lineno else path
        super().__init__(f"{where}: {message}")


class EnvFileError(ConfigError):
    """An env file that was named but is missing, or that cannot be read."""

    code = "env_file_error"

    def __init__(self, message: str, path: str):
        self.path = path
        super().__init__(f"{path}: {message}")


class InvalidOption(ConfigError):
    """A bad value for a flag or a field; the message starts with the flag or field name."""

    code = "invalid_option"

    def __init__(self, option: str, message: str):
        self.option = option
        super().__init__(f"{option}: {message}")


class UnknownProcess(HuError, LookupError):
    """A process or instance name that nobody knows."""

    code = "unknown_process"
    http_status = 404


class StateError(HuError, RuntimeError):
    """The operation is not allowed in the current state (e.g. stdin not redirected)."""

    code = "state_conflict"
    http_status = 409


class SpawnError(HuError):
    """A child could not be started; ``__cause__`` holds the OSError."""

    code = "spawn_error"
    http_status = 500


class ExportError(HuError):
    """An export could not be rendered or written."""

    code = "export_error"


class ControlError(HuError):
    """Talking to a running hu or daemon failed."""

    code = "control_error"


class NotRunning(ControlError):
    """Nothing is listening on the control socket we looked at."""

    code = "not_running"
