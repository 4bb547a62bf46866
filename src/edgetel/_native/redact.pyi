from collections.abc import Callable, Iterable

MAX_KEYS: int

def detectors_mask(names: Iterable[str], /) -> int: ...

# a rule's result: None (unchanged), ALLOWED, or (new value, rules that fired)
_Result = tuple[str, tuple[str, ...]] | None

class Walker:
    """The redaction walk over serialized ExportTraceServiceRequest / ExportMetricsServiceRequest bytes."""

    keys: int
    def __init__(
        self,
        classify: Callable[[str, bool], tuple[int, str, object, object]],
        scan: Callable[[str], _Result],
        name: Callable[[str], _Result],
        value: Callable[[object, bytes], tuple[bytes, tuple[str, ...]] | None],
        allowed: object,
        enabled: int,
        scalars: int,
        name_url: bool,
        name_sql: bool,
        gen_ai_event_keys: tuple[bytes, ...] | None,
        sql_keywords: frozenset[bytes],
    ) -> None: ...
    def traces(self, data: bytes, counts: dict[str, int], /) -> bytes | None: ...
    def metrics(self, data: bytes, counts: dict[str, int], /) -> bytes | None: ...
    def clear_keys(self) -> None: ...
