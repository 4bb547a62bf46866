"""Pipelines: the graph of components, fan-out, and the listening sockets that survive reloads."""
