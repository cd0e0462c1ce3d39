"""honcho_uv: a Procfile process manager (``hu``) on an embeddable, gaffer-style Manager.

The embedding API::

    from honcho_uv import Manager

    m = Manager()
    m.start(applications=[MyApp()])
    m.add_process("web", "python -m http.server", numprocesses=2, port=5000)
    m.run()            # until m.stop() (from any thread) has finished

Layering (docs/architecture.rst; ``tests/test_layers.py`` enforces it): ``errors`` and
``models`` are the vocabulary (L0); ``procfile/`` turns an app root into data, and
``rundir``/``atomicfile`` are the runtime files (L1); ``core/`` is the engine, with no aiohttp,
click or Jinja2 (L1-L3); ``console/``, ``daemon/``, ``http/`` and ``export/`` are its faces
(L4); ``cli/`` is the command line (L5). A module imports only from its own layer or below.

Names are imported on first use (PEP 562), so ``import honcho_uv`` (and the ``hu``
command line) stays fast; ``from honcho_uv import Manager`` works as usual.
"""

from honcho_uv._lazy import lazy_exports as _lazy_exports
from honcho_uv._version import __version__ as __version__

_LAZY = {
    "App": "honcho_uv.procfile.app",
    "Application": "honcho_uv.core.hooks",
    "ConfigError": "honcho_uv.errors",
    "ControlError": "honcho_uv.errors",
    "EnvFileError": "honcho_uv.errors",
    "EventEmitter": "honcho_uv.core.events",
    "EventQueue": "honcho_uv.core.events",
    "ExitPolicy": "honcho_uv.core.hooks",
    "ExitStatus": "honcho_uv.models",
    "ExportError": "honcho_uv.errors",
    "FlappingInfo": "honcho_uv.models",
    "Foreground": "honcho_uv.core.foreground",
    "HuError": "honcho_uv.errors",
    "Instance": "honcho_uv.procfile.formation",
    "InvalidOption": "honcho_uv.errors",
    "Manager": "honcho_uv.core.manager",
    "NotRunning": "honcho_uv.errors",
    "Printer": "honcho_uv.console.printer",
    "Process": "honcho_uv.core.process",
    "ProcessState": "honcho_uv.models",
    "ProcessTemplate": "honcho_uv.models",
    "Procfile": "honcho_uv.procfile.parse",
    "ProcfileEntry": "honcho_uv.procfile.parse",
    "ProcfileError": "honcho_uv.errors",
    "SpawnError": "honcho_uv.errors",
    "Spawner": "honcho_uv.core.spawn",
    "StateError": "honcho_uv.errors",
    "Supervisor": "honcho_uv.core.supervisor",
    "UnknownProcess": "honcho_uv.errors",
    "app_templates": "honcho_uv.procfile.templates",
    "check_procfile": "honcho_uv.procfile.parse",
    "errors": "honcho_uv.errors",
    "expand_instances": "honcho_uv.procfile.app",
    "load_app": "honcho_uv.procfile.app",
    "load_env_files": "honcho_uv.procfile.dotenv",
    "load_procfile": "honcho_uv.procfile.parse",
    "parse_env_text": "honcho_uv.procfile.dotenv",
    "parse_formation": "honcho_uv.procfile.formation",
    "parse_procfile": "honcho_uv.procfile.parse",
    "parse_signal": "honcho_uv.models",
    "resolve_formation": "honcho_uv.procfile.formation",
    "split_instance_name": "honcho_uv.models",
}

__all__ = sorted([*_LAZY, "__version__"])


__getattr__, __dir__ = _lazy_exports(globals(), _LAZY)
