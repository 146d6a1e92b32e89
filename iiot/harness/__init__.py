"""The scenario harness: runs the twin, edge agents, bridges and workers on the real stack, scores the run.

Pure parts: ``scenario`` (the file format), ``edge_plan`` (split and edge.yaml), ``recorder`` (what
the twin sent), ``scoring``, ``detection_scoring`` and ``run_scoring`` (the numbers),
``expectations`` (pass or fail). Adapters: ``stack_control``, ``processes``, ``mqtt_observer``, ``influx_probe``. The run
itself: ``orchestrate``; output: ``report`` and ``plots``; entry: ``cli``.
"""
