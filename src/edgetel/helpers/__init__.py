"""Reusable pieces components are built from: the exporter queue/retry wrapper and its settings."""
