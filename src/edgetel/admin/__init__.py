"""The admin HTTP endpoint: /healthz, /readyz, /metrics and the status page."""
