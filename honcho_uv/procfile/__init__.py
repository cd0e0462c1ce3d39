"""An app root -> data (layer L1): the Procfile, the env files, formations and ports.

Pure apart from reading the files it is given; nothing here starts a process.

* :mod:`.parse`: Procfile text -> entries;
* :mod:`.dotenv`: .env files -> variables, with the file and line of each;
* :mod:`.formation`: ``web=3`` -> instances and their PORT;
* :mod:`.app`: all of it loaded and checked (:func:`load_app`);
* :mod:`.templates`: an App -> the Manager's process templates;
* :mod:`.shellcmd`: whether a command may run as ``exec CMD``.

The names below stay importable from ``honcho_uv.procfile`` as before the package split.
"""

from honcho_uv.models import NAME_PATTERN, split_instance_name, validate_name
from honcho_uv.procfile.parse import (
    Procfile,
    ProcfileEntry,
    check_procfile,
    load_procfile,
    parse_procfile,
    read_procfile_text,
)

__all__ = [
    "NAME_PATTERN",
    "Procfile",
    "ProcfileEntry",
    "check_procfile",
    "load_procfile",
    "parse_procfile",
    "read_procfile_text",
    "split_instance_name",
    "validate_name",
]
