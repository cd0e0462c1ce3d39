"""honcho_uv: a Procfile process manager (``hu``) on an embeddable, gaffer-style Manager.

The embedding API::

    from honcho_uv import Manager

    m = Manager()
    m.start(applications=[MyApp()])
    m.add_process("web", "python -m http.server", numprocesses=2, port=5000)
    m.run()            # until m.stop() (from any thread) has finished

Names are imported on first use (PEP 562), so ``import honcho_uv`` (and the ``hu``
command line) stays fast; ``from honcho_uv import Manager`` works as usual.
"""

from honcho_uv._lazy import lazy_exports as _lazy_exports
from honcho_uv._version import __version__

_LAZY = {
    "App": "honcho_uv.environ",
    "Application": "honcho_uv.manager",
    "ConfigError": "honcho_uv.errors",
    "ControlError": "honcho_uv.errors",
    "EnvFileError": "honcho_uv.errors",
    "EventEmitter": "honcho_uv.events",
    "EventQueue": "honcho_uv.events",
    "ExitPolicy": "honcho_uv.manager",
    "ExitStatus": "honcho_uv.models",
    "ExportError": "honcho_uv.errors",
    "FlappingInfo": "honcho_uv.models",
    "HuError": "honcho_uv.errors",
    "Instance": "honcho_uv.environ",
    "InvalidOption": "honcho_uv.errors",
    "Manager": "honcho_uv.manager",
    "NotRunning": "honcho_uv.errors",
    "Printer": "honcho_uv.printer",
    "Process": "honcho_uv.process",
    "ProcessState": "honcho_uv.models",
    "ProcessTemplate": "honcho_uv.models",
    "Procfile": "honcho_uv.procfile",
    "ProcfileEntry": "honcho_uv.procfile",
    "ProcfileError": "honcho_uv.errors",
    "SpawnError": "honcho_uv.errors",
    "StateError": "honcho_uv.errors",
    "UnknownProcess": "honcho_uv.errors",
    "check_procfile": "honcho_uv.procfile",
    "errors": "honcho_uv.errors",
    "expand_instances": "honcho_uv.environ",
    "load_app": "honcho_uv.environ",
    "load_env_files": "honcho_uv.environ",
    "load_procfile": "honcho_uv.procfile",
    "parse_env_text": "honcho_uv.environ",
    "parse_formation": "honcho_uv.environ",
    "parse_procfile": "honcho_uv.procfile",
    "parse_signal": "honcho_uv.models",
    "resolve_formation": "honcho_uv.environ",
    "split_instance_name": "honcho_uv.procfile",
}

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


__getattr__, __dir__ = _lazy_exports(globals(), _LAZY)
