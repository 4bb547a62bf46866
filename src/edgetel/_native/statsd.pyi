from collections.abc import Callable, Sequence

MAX_ENTRIES: int
MAX_FALLBACK: int

class Acc:
    """Pending state of one StatsD series (kind 1 counter, 2 explicit-bucket histogram, 3 gauge)."""

    def __init__(
        self, series: object, kind: int, deltas: bool = True, scale: float = 1.0, bounds: Sequence[float] | None = None
    ) -> None: ...

Resolved = tuple[Acc | None, float, int] | None

class Table:
    """StatsD line prefixes (`name|tail`) -> accumulators."""

    pending: int
    def digest(
        self, blob: bytes, resolve: Callable[[bytes, bytes], Resolved], /
    ) -> tuple[int, int, list[bytes]]: ...
    def sync(self) -> None: ...
    def clear(self) -> None: ...
    def __len__(self) -> int: ...

# Linux only: datagrams into stage[off:] by recvmmsg; (off, packets, oversized, status)
def recv_burst(fd: int, stage: bytearray, off: int, max_packet: int, budget: int, /) -> tuple[int, int, int, int]: ...
