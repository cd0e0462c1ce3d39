"""honcho_uv: a Procfile process manager (``hu``) on an embeddable, gaffer-style Manager.

The embedding API::

    from honcho_uv import Manager

    m = Manager()
    m.start(applications=[MyApp()])
    m.add_process("web", "python -m http.server", numprocesses=2, port=5000)
    m.run()            # until m.stop() (from any thread) has finished
"""

from honcho_uv import errors
from honcho_uv._version import __version__
from honcho_uv.environ import (
    App,
    Instance,
    expand_instances,
    load_app,
    load_env_files,
    parse_env_text,
    parse_formation,
    resolve_formation,
)
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
from honcho_uv.manager import Application, ExitPolicy, Manager
from honcho_uv.models import ExitStatus, FlappingInfo, ProcessState, ProcessTemplate, parse_signal
from honcho_uv.printer import Printer
from honcho_uv.process import Process
from honcho_uv.procfile import (
    Procfile,
    ProcfileEntry,
    check_procfile,
    load_procfile,
    parse_procfile,
    split_instance_name,
)

__all__ = [
    "App",
    "Application",
    "ConfigError",
    "ControlError",
    "EnvFileError",
    "EventEmitter",
    "EventQueue",
    "ExitPolicy",
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
    "check_procfile",
    "errors",
    "expand_instances",
    "load_app",
    "load_env_files",
    "load_procfile",
    "parse_env_text",
    "parse_formation",
    "parse_procfile",
    "parse_signal",
    "resolve_formation",
    "split_instance_name",
]
