"""A process-wide hook for memory pressure: components that hold data in memory MAY register a callback.

When a memory_limiter measures the process RSS above its hard limit, it calls every registered callback once
per check. A callback frees what it can by its own counted policy (a tail sampler decides or drops its oldest
traces, a buffer spills to disk or drops its oldest batches, counting them as dropped with reason
`memory_pressure`) and returns how many items it shed. Callbacks run on the event loop and must not block.

    from edgetel.processors.memorylimiter import pressure
    unregister = pressure.register(self._shed_oldest)   # in start()
    unregister()                                        # in shutdown()
"""

from __future__ import annotations

import logging
from collections.abc import Callable

Shedder = Callable[[], int]

_callbacks: list[Shedder] = []
log = logging.getLogger("edgetel.memory_limiter")


def register(callback: Shedder) -> Callable[[], None]:
    """Add `callback`; returns a function that removes it again."""
    _callbacks.append(callback)

    def unregister() -> None:
        if callback in _callbacks:
            _callbacks.remove(callback)

    return unregister


def shed() -> int:
    """Call every callback; the number of items they shed in total. A failing callback is logged and skipped."""
    total = 0
    for cb in list(_callbacks):
        try:
            total += max(0, int(cb()))
        except Exception as e:  # a broken shedder must not stop the others
            log.error("a memory pressure callback failed", extra={"error": repr(e)})
    return total


def registered() -> int:
    return len(_callbacks)
