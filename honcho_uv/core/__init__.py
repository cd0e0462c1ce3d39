"""The engine (layers L1-L3): no aiohttp, click or Jinja2 here.

L1, pure: :mod:`.events` (EventEmitter), :mod:`.feed` (the bounded queue), :mod:`.policy`
(restart and flapping decisions), :mod:`.framing` (bytes -> lines), :mod:`.clock`.
L2, one OS process and its surroundings: :mod:`.spawn` (the spawner seam), :mod:`.stdio`,
:mod:`.procfs` (the process table), :mod:`.kill` (the one stop strategy), :mod:`.reaper`,
:mod:`.stats`, :mod:`.process`, :mod:`.bus` (output and stats fan-out), :mod:`.snapshot`,
:mod:`.detach`.
L3, many processes: :mod:`.supervisor` (one per template), :mod:`.context`, :mod:`.tasks`,
:mod:`.runtime` (one run), :mod:`.controller` and :mod:`.manager` (the embedding API),
:mod:`.hooks`, :mod:`.foreground` (foreman's exit rules).
"""
