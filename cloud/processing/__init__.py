"""Pure stream processing: windows, aggregates, alert rules and the alert lifecycle (no I/O)."""
