"""PEP 562 lazy exports: a package names what it exports, and each name is imported on first use.

So ``import honcho_uv`` (and every ``hu`` command) stays fast, and ``honcho_uv.http.binds``
can be used without loading aiohttp.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(namespace: dict[str, Any],
                 table: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for the package whose globals are *namespace*.

    *table* maps each exported name to the module defining it; a name mapped to the package's
    own submodule of that name (``"errors": "honcho_uv.errors"``) is that module. After the
    first access the value is cached in *namespace*, so ``__getattr__`` is not called again.
    """
    package = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        module_name = table.get(name)
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(module_name)
        value = module if module_name == f"{package}.{name}" else getattr(module, name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *namespace["__all__"]})

    return __getattr__, __dir__
