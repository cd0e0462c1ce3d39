"""Plain data (layer L0): the name grammar, process states, exit statuses, templates.

It imports nothing of honcho_uv but :mod:`honcho_uv.errors`, so every layer can use it.

* :mod:`.names`: ``web`` and ``web.2``, the one grammar of process names;
* :mod:`.states`: supervisor's states and their transitions, ``ExitStatus``, signal names;
* :mod:`.flapping`: gaffer's flapping rule;
* :mod:`.template`: ``ProcessTemplate``, every field validated;
* :mod:`.sizes`: ``10M`` and friends.
"""

from typing import TYPE_CHECKING

from honcho_uv._lazy import lazy_exports as _lazy_exports

if TYPE_CHECKING:  # the names below, imported on first use (PEP 562): `hu ps` needs two of them
    from honcho_uv.models.flapping import FlappingInfo
    from honcho_uv.models.names import NAME_PATTERN, split_instance_name, validate_name
    from honcho_uv.models.probes import Probe, parse_probe
    from honcho_uv.models.states import TRANSITIONS, ExitStatus, ProcessState, parse_signal
    from honcho_uv.models.template import (
        CONDITIONS,
        DEFAULT_GRACEFUL_TIMEOUT_S,
        DEFAULT_READY_TIMEOUT_S,
        MAX_NUMPROCESSES,
        RESTART_POLICIES,
        ProcessTemplate,
        check_count,
    )

_LAZY = {
    "CONDITIONS": "honcho_uv.models.template",
    "DEFAULT_GRACEFUL_TIMEOUT_S": "honcho_uv.models.template",
    "DEFAULT_READY_TIMEOUT_S": "honcho_uv.models.template",
    "ExitStatus": "honcho_uv.models.states",
    "FlappingInfo": "honcho_uv.models.flapping",
    "MAX_NUMPROCESSES": "honcho_uv.models.template",
    "NAME_PATTERN": "honcho_uv.models.names",
    "Probe": "honcho_uv.models.probes",
    "ProcessState": "honcho_uv.models.states",
    "ProcessTemplate": "honcho_uv.models.template",
    "RESTART_POLICIES": "honcho_uv.models.template",
    "TRANSITIONS": "honcho_uv.models.states",
    "check_count": "honcho_uv.models.template",
    "parse_probe": "honcho_uv.models.probes",
    "parse_signal": "honcho_uv.models.states",
    "split_instance_name": "honcho_uv.models.names",
    "validate_name": "honcho_uv.models.names",
}

__all__ = [
    "CONDITIONS",
    "DEFAULT_GRACEFUL_TIMEOUT_S",
    "DEFAULT_READY_TIMEOUT_S",
    "MAX_NUMPROCESSES",
    "NAME_PATTERN",
    "RESTART_POLICIES",
    "TRANSITIONS",
    "ExitStatus",
    "FlappingInfo",
    "Probe",
    "ProcessState",
    "ProcessTemplate",
    "check_count",
    "parse_probe",
    "parse_signal",
    "split_instance_name",
    "validate_name",
]

__getattr__, __dir__ = _lazy_exports(globals(), _LAZY)
