"""gafferd: one ``APP.ini`` that ``hu daemon`` loads as is.

A ``[process:TYPE]`` section per Procfile type (types with a count of 0 included, with
``numprocesses = 0``, so they can be scaled later). The section name is the process
type; the app name is only in the header, because the daemon runs one ini per app
(gaffer's exporter wrote ``process:APP:TYPE``, which its daemon read back swapped).
``cmd`` runs with ``shell = true`` (the daemon runs it via ``/bin/sh -c``), with ``exec`` in
front of a single simple command, as every format and ``hu start`` do, so the app and not the
shell is the supervised process and gets the stop signal; a compound command is written as
is. ``graceful_timeout`` is ``--timeout`` to the millisecond. ``port`` is the type's first
port and the daemon gives instance N ``port + N - 1``. Values are written for ConfigParser
with ``delimiters=("=",)``, ``interpolation=None`` and case-preserving keys: ``%``, ``$``,
``:`` and case survive; values with line breaks or surrounding blanks are refused.
"""

from __future__ import annotations

from honcho_uv.export.base import Exporter, ExportFile

__all__ = ["GafferdExporter"]


class GafferdExporter(Exporter):
    name = "gafferd"
    flags = frozenset({"--user", "--timeout"})

    def files(self) -> list[ExportFile]:
        content = self.render("app.ini", env=self.ctx.shared_env)
        return [ExportFile(f"{self.ctx.app}.ini", content)]
