"""honcho_uv: a Procfile process manager (``hu``) on an embeddable, gaffer-style Manager."""

from honcho_uv._version import __version__

__all__ = ["__version__"]
