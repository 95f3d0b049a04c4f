"""Operational metrics: Prometheus instruments and the ecosystem report."""
