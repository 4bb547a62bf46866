"""The disk buffer."""
