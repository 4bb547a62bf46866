"""Errors a consumer raises, and what the caller does with them.

A consumer either accepts data (returns), or raises:
- `RetryableError`: nothing was kept; the sender may try again later (backpressure, a backend that is down).
  Receivers answer with their protocol's retry-later status (gRPC UNAVAILABLE + RetryInfo, HTTP 503/429).
- `PermanentError`: the data is bad or refused for good; retrying will not help. Receivers answer 400 /
  INVALID_ARGUMENT and the data is dropped (counted).
"""

from __future__ import annotations


class ConsumeError(Exception):
    """Base class of errors raised by `Consumer.consume`."""


class RetryableError(ConsumeError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(ConsumeError):
    pass


class QueueFullError(RetryableError):
    """A bounded queue between components is full: push back to the sender."""

    def __init__(self, where: str, retry_after: float = 1.0) -> None:
        super().__init__(f"{where}: queue is full", retry_after)
