"""The test kit: one home for every helper the suite shares, loaded with
``pytest_plugins = ["tests.kit.fixtures"]`` from ``tests/conftest.py``.

One module per noun; tests import what they need as ``from tests.kit.<module> import ...``:

* :mod:`tests.kit.wait`: ``wait_for`` (sync) and ``until`` (async); deadlines, never bare sleeps.
* :mod:`tests.kit.procs`: child commands (``python()``, ``tree()``, ``cmdline()``), the marker
  survivor scan (``carriers``, ``assert_no_survivors``) and ``zombie_children``.
* :mod:`tests.kit.hu`: the one way to run this worktree's ``hu`` (``HU``, ``hu_env``, ``hu``),
  :class:`~tests.kit.hu.AppDir` and :class:`~tests.kit.hu.Running`, ``stop_gracefully``.
* :mod:`tests.kit.api`: the in-process control API (``serve``) and socket-level clients
  (``exchange``, ``open_raw``, ``status_of``, the synchronous ``get``).
* :mod:`tests.kit.events`: recorders of a Manager's events and output (``EventLog``, ``Output``).
* :mod:`tests.kit.export_app`: the tricky app the export tests share.
* :mod:`tests.kit.fixtures`: the pytest fixtures and hooks (async tests on both loops, the
  private runtime directory, the markers).
"""
