from __future__ import annotations

from edgetel.component.factory import CreateContext, Factory
from edgetel.component.ids import Kind, Signal
from edgetel.component.protocols import Component, Consumer
from edgetel.processors.redaction.config import RedactionConfig


def _create(ctx: CreateContext, cfg: RedactionConfig, nxt: Consumer) -> Component:
    from edgetel.processors.redaction.hashing import make_hasher, read_key_file
    from edgetel.processors.redaction.processor import RedactionProcessor

    key = b""
    if cfg.hmac_key:
        key = cfg.hmac_key.reveal().encode()
    elif cfg.hmac_key_file:
        key = read_key_file(cfg.hmac_key_file)
    hasher = make_hasher(cfg.hash_function, key)
    return RedactionProcessor(ctx, cfg, nxt, hasher)


factory = Factory(
    type="redaction",
    kind=Kind.PROCESSOR,
    config_type=RedactionConfig,
    create=_create,
    signals=frozenset({Signal.TRACES, Signal.METRICS}),
    stability="alpha",
    description="removes, masks or hashes secrets and personal data in attributes, names and messages",
)
