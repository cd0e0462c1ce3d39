"""The console (layer L4): what ``hu start`` prints, and the ring buffer of recent output.

:mod:`.printer` (labelled, coloured lines), :mod:`.writer` (the writer thread and its
backpressure), :mod:`.messages` (events -> system lines), :mod:`.logbuffer` (``hu logs``).
"""
