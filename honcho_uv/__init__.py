"""honcho_uv: a Procfile process manager (``hu``) on an embeddable, gaffer-style Manager.

Layering (DESIGN.md): ``errors``/``models`` (L0) < ``procfile``/``environ``/``events``/
``policy``/``output`` (L1) < ``process``/``stats``/``reaper`` (L2) < ``manager`` (L3) <
``printer``/``export``/``http``/``daemon`` (L4) < ``cli`` (L5). This module re-exports the
public embedding API.
"""

from honcho_uv._version import __version__
from honcho_uv.environ import App, Instance, expand_instances, load_app, parse_formation, resolve_formation
from honcho_uv.errors import (
    ConfigError,
    ControlError,
    EnvFileError,
    ExportError,
    HuError,
    InvalidOption,
    NotRunning,
    ProcfileError,
    SpawnError,
    StateError,
    UnknownProcess,
)
from honcho_uv.events import EventEmitter, EventQueue
from honcho_uv.manager import Manager
from honcho_uv.models import ExitStatus, FlappingInfo, ProcessState, ProcessTemplate
from honcho_uv.printer import Printer
from honcho_uv.process import Process
from honcho_uv.procfile import Procfile, ProcfileEntry, load_procfile, parse_procfile

__all__ = [
    "App",
    "ConfigError",
    "ControlError",
    "EnvFileError",
    "EventEmitter",
    "EventQueue",
    "ExitStatus",
    "ExportError",
    "FlappingInfo",
    "HuError",
    "Instance",
    "InvalidOption",
    "Manager",
    "NotRunning",
    "Printer",
    "Process",
    "ProcessState",
    "ProcessTemplate",
    "Procfile",
    "ProcfileEntry",
    "ProcfileError",
    "SpawnError",
    "StateError",
    "UnknownProcess",
    "__version__",
    "expand_instances",
    "load_app",
    "load_procfile",
    "parse_formation",
    "parse_procfile",
    "resolve_formation",
]
