"""edgetel: a lightweight edge telemetry agent."""

__version__ = "0.1.0"
