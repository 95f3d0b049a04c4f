"""Operational metrics: ``GET /metrics`` (the instruments of escrow/instruments.py, which
every layer updates, plus cluster series read from the database) and request latency."""
