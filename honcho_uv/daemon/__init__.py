"""gafferd (layer L4): the Manager headless, loaded from an ini file, behind the HTTP API.

* :mod:`.gafferd`: the :class:`Daemon` (lifecycle, reloads, the state file's upkeep);
* :mod:`.config`: the ini file -> binds, settings and process templates;
* :mod:`.state`: what the daemon runs, so the next start can stop a crashed one's leftovers;
* :mod:`.pidfile`: the pidfile, never stolen from a live owner.

The daemon module imports aiohttp (through the HTTP API), so this package exports lazily.
"""

from honcho_uv._lazy import lazy_exports as _lazy_exports

_LAZY = {
    "Daemon": "honcho_uv.daemon.gafferd",
    "DaemonOptions": "honcho_uv.daemon.gafferd",
    "default_bind": "honcho_uv.daemon.gafferd",
}

__all__ = ["Daemon", "DaemonOptions", "default_bind"]

__getattr__, __dir__ = _lazy_exports(globals(), _LAZY)
