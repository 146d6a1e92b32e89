"""Pipelines of the edge agent: defects (vision) and faults (sensor windows)."""
