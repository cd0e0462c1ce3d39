"""Plain data (layer L0): the name grammar, process states, exit statuses, templates.

It imports nothing of honcho_uv but :mod:`honcho_uv.errors`, so every layer can use it.

* :mod:`.names`: ``web`` and ``web.2``, the one grammar of process names;
* :mod:`.states`: supervisor's states and their transitions, ``ExitStatus``, signal names;
* :mod:`.flapping`: gaffer's flapping rule;
* :mod:`.template`: ``ProcessTemplate``, every field validated.
"""

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
