from typing import TypeAlias

# (trace id, framed spans, span count, start ns, end ns, status codes, root span name or None, trace state)
_Trace: TypeAlias = tuple[bytes, bytes, int, int, int, int, str | None, str]
# (span name, kind, status code, span dimension values, calls, duration sum, bucket counts)
_Series: TypeAlias = tuple[str, int, int, tuple[object, ...], int, float, list[int]]

def walk(raw: bytes) -> list[tuple[bytes, bytes, str, list[_Trace]]] | None: ...
def span_metrics(
    raw: bytes, scale: float, bounds: list[float], dims: list[str]
) -> list[tuple[str, tuple[object, ...], list[_Series]]] | None: ...
