"""The suite's fixtures and hooks live in the test kit (``tests/kit/``); see ``tests/kit/__init__.py``."""

pytest_plugins = ["tests.kit.fixtures"]
