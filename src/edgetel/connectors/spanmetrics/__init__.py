"""The spanmetrics connector: request metrics (calls, duration histogram) from every span."""
