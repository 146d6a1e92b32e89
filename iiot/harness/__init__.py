"""The scenario harness: runs the twin, edge agents, bridges and workers on the real stack, scores the run.

Pure parts: ``scenario`` (the file format), ``edge_plan`` (split and edge.yaml), ``launch`` (names,
commands), ``recorder`` (what the twin sent), ``events`` (schedule, outages), ``scoring``,
``detection_scoring`` and ``run_scoring`` (the numbers), ``expectations`` (pass or fail).
Adapters: ``stack_control``, ``processes``, ``mqtt_observer``, ``influx_probe``, ``storage_watch``,
``kafka_topics``.
The run itself: ``orchestrate``; output: ``report`` and ``plots``; entry: ``cli``.
"""
