"""How the control commands print: tables, durations, sizes, log lines."""

from __future__ import annotations

import re
import time
from typing import Any

from honcho_uv.errors import InvalidOption

__all__ = ["bytes_", "console_names", "duration", "log_line", "name_width", "parse_duration", "ps_rows", "stats_table",
           "table", "yes_no"]


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def bytes_(n: int | None) -> str:
    """1536 -> "1.5K" (None -> "-")."""
    if n is None:
        return "-"
    for unit in ("B", "K", "M", "G"):
        if n < 1024 or unit == "G":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows])
    return "\n".join(lines)


def yes_no(value: bool | None) -> str:
    return "-" if value is None else "yes" if value else "no"


def ps_rows(processes: list[dict[str, Any]], stats: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for job in processes:
        if not job["instances"]:
            rows.append({"name": job["name"], "state": job["state"], "ready": job.get("ready"), "id": None,
                         "os_pid": None, "uptime": None, "restarts": job["restarts"], "cpu": None, "mem": None})
        for inst in job["instances"]:
            sample = stats.get(inst["id"], {})
            rows.append({"name": inst["name"], "state": inst["state"], "ready": inst.get("ready"), "id": inst["id"],
                         "os_pid": inst["os_pid"], "uptime": inst["uptime"], "restarts": job["restarts"],
                         "cpu": sample.get("cpu"), "mem": sample.get("mem_info1")})
    return rows


def console_names(processes: list[dict[str, Any]]) -> list[str]:
    """The instance names of ``GET /processes`` in the console's order: the Procfile's (the
    order the templates were added), then by number."""
    return [i["name"] for p in processes for i in sorted(p["instances"], key=lambda i: i["number"])]


def name_width(names: list[str]) -> int:
    """The console's name column: the widest instance name, at least 6 (``system``)."""
    return max([6, *map(len, names)])


def log_line(line: dict[str, Any], width: int) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(line["time"]))
    return f"{stamp} {line['name'].ljust(width)} | {line['line']}"


DURATION_RE = re.compile(r"\A\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*\Z")


def parse_duration(text: str, option: str) -> float:
    """``"90"`` or ``"90s"`` -> 90.0; ``"5m"``, ``"2h"``, ``"1d"``."""
    match = DURATION_RE.match(text)
    if match is None:
        raise InvalidOption(option, f"expected a duration like 30s, 5m, 2h or 1d, got {text!r}")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


def stats_table(samples: list[dict[str, Any]], order: list[str] | None = None) -> str:
    """One row per sample, in *order* (the console's, :func:`console_names`; names it lacks
    come last), the NAME column as wide as the console's name column."""
    rank = {name: i for i, name in enumerate(order or ())}
    width = name_width([*rank, *(s["name"] for s in samples)])
    rows = [[s["name"].ljust(width), s.get("os_pid") or s.get("pid"),
             "-" if s.get("cpu") is None else f"{s['cpu']:.1f}%",
             bytes_(s.get("mem_info1")), "-" if s.get("mem") is None else f"{s['mem']:.1f}%",
             "-" if s.get("ctime") is None else f"{s['ctime']:.2f}s", len(s.get("children") or [])]
            for s in sorted(samples, key=lambda s: (rank.get(s["name"], len(rank)), s["name"]))]
    return table(rows, ["NAME", "PID", "CPU", "RSS", "MEM", "CPU TIME", "CHILDREN"])
