"""Every exception honcho_uv raises on purpose.

::

    HuError                         base; ``code`` is the stable wire string, ``exit_code`` the CLI's
    ├── ConfigError                 the user's input is wrong; the message names the file, line or flag
    │   ├── ProcfileError           .path .lineno: missing, unreadable, malformed or empty Procfile
    │   ├── EnvFileError            .path: an env file that is missing (when named), unreadable or malformed
    │   └── InvalidOption           .option: a bad flag or field value (formation, port, signal, field)
    ├── UnknownProcess              a name that is not in the Procfile / the Manager   (HTTP 404)
    ├── StateError                  an operation illegal in the current state          (HTTP 409)
    ├── SpawnError                  a child could not be started; __cause__ is the OSError
    ├── ExportError                 an export could not be rendered or written
    │   └── UnknownFormat           no such export format                              (exit 2)
    └── ControlError                talking to a running hu or daemon failed
        ├── NotRunning              no hu is listening where we looked
        └── RequestRefused          the HTTP API refused the request itself:
            ├── BadRequest          400 malformed request (body, name, id)
            ├── Unauthorized        401 no token, or the wrong one
            ├── Forbidden           403 understood and refused (Origin, peer uid, exec over TCP)
            ├── NotFound            404 no such route (an unknown *process* is UnknownProcess)
            ├── MethodNotAllowed    405
            ├── RequestTimeout      408 the request did not arrive in time
            ├── BodyTooLarge        413
            ├── UnsupportedMediaType 415 a mutation without a JSON body
            ├── TooManyConnections  429 the connection cap of a listening socket
            ├── HeadersTooLarge     431
            └── InternalError       500 a bug in the server (logged there; no traceback is sent)

Each class has a distinct ``code``; :data:`WIRE_ERRORS` maps every code back to its class, so a
client re-raises exactly what the server raised (``tests/unit/test_errors.py`` checks it).
A child's exit is never an exception: it is an :class:`~honcho_uv.models.ExitStatus`.
Operating-system errors are wrapped at the edge with ``raise X(...) from exc``.
"""

from __future__ import annotations

__all__ = [
    "HTTP_STATUS_CODES",
    "WIRE_ERRORS",
    "BadRequest",
    "BodyTooLarge",
    "ConfigError",
    "ControlError",
    "EnvFileError",
    "ExportError",
    "Forbidden",
    "HeadersTooLarge",
    "HuError",
    "InternalError",
    "InvalidOption",
    "MethodNotAllowed",
    "NotFound",
    "NotRunning",
    "ProcfileError",
    "RequestRefused",
    "RequestTimeout",
    "SpawnError",
    "StateError",
    "TooManyConnections",
    "Unauthorized",
    "UnknownFormat",
    "UnknownProcess",
    "UnsupportedMediaType",
]


class HuError(Exception):
    """Base of every error honcho_uv raises on purpose."""

    code = "error"
    exit_code = 1
    http_status = 400

    @classmethod
    def from_wire(cls, message: str) -> HuError:
        """The error a client re-raises for an error body of this class's code."""
        return cls(message)


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

    @classmethod
    def from_wire(cls, message: str) -> HuError:
        error = cls(message)
        error.args = (message,)
        return error


class EnvFileError(ConfigError):
    """An env file that was named but is missing, or that cannot be read or parsed."""

    code = "env_file_error"

    def __init__(self, message: str, path: str):
        self.path = path
        super().__init__(f"{path}: {message}")

    @classmethod
    def from_wire(cls, message: str) -> HuError:
        error = cls(message, "")
        error.args = (message,)
        return error


class InvalidOption(ConfigError):
    """A bad value for a flag or a field; the message starts with the flag or field name."""

    code = "invalid_option"

    def __init__(self, option: str, message: str):
        self.option = option
        super().__init__(f"{option}: {message}")

    @classmethod
    def from_wire(cls, message: str) -> HuError:
        option, _, rest = message.partition(": ")
        return cls(option, rest) if rest else cls("option", message)


class UnknownProcess(HuError, LookupError):
    """A process or instance name that nobody knows."""

    code = "unknown_process"
    http_status = 404


class StateError(HuError, RuntimeError):
    """The operation is not allowed in the current state (e.g. the process has no stdin)."""

    code = "state_conflict"
    http_status = 409


class SpawnError(HuError):
    """A child could not be started; ``__cause__`` holds the OSError."""

    code = "spawn_error"
    http_status = 500


class ExportError(HuError):
    """An export could not be rendered or written."""

    code = "export_error"


class UnknownFormat(ExportError):
    """The export format is not registered (a usage error: exit code 2)."""

    code = "unknown_format"
    exit_code = 2


class ControlError(HuError):
    """Talking to a running hu or daemon failed."""

    code = "control_error"


class NotRunning(ControlError):
    """Nothing is listening on the control socket we looked at."""

    code = "not_running"


class RequestRefused(ControlError):
    """The HTTP API refused the request itself (not the operation it asked for)."""

    code = "http_error"


class BadRequest(RequestRefused):
    """The request itself is malformed."""

    code = "bad_request"


class Unauthorized(RequestRefused):
    """No token, or the wrong one."""

    code = "unauthorized"
    http_status = 401


class Forbidden(RequestRefused):
    """The request is understood and refused."""

    code = "forbidden"
    http_status = 403


class NotFound(RequestRefused):
    """No such route."""

    code = "not_found"
    http_status = 404


class MethodNotAllowed(RequestRefused):
    code = "method_not_allowed"
    http_status = 405


class RequestTimeout(RequestRefused):
    code = "request_timeout"
    http_status = 408


class BodyTooLarge(RequestRefused):
    code = "body_too_large"
    http_status = 413


class UnsupportedMediaType(RequestRefused):
    code = "unsupported_media_type"
    http_status = 415


class TooManyConnections(RequestRefused):
    code = "too_many_connections"
    http_status = 429


class HeadersTooLarge(RequestRefused):
    code = "headers_too_large"
    http_status = 431


class InternalError(RequestRefused):
    """A bug in the server: it logged the traceback and sent none."""

    code = "internal_error"
    http_status = 500


def _subclasses(cls: type[HuError]) -> list[type[HuError]]:
    out = [cls]
    for sub in cls.__subclasses__():
        out.extend(_subclasses(sub))
    return out


#: Every error code -> its class (what a client raises for an error body with that code).
WIRE_ERRORS: dict[str, type[HuError]] = {c.code: c for c in _subclasses(HuError)}
#: HTTP statuses of refusals aiohttp itself raises -> the code of our class for them.
HTTP_STATUS_CODES: dict[int, str] = {c.http_status: c.code for c in _subclasses(RequestRefused)
                                     if c is not RequestRefused}
