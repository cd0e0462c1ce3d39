"""``python -m honcho_uv`` runs the ``hu`` command line."""
from honcho_uv.cli import main

if __name__ == "__main__":
    main()
