"""Settings of the redaction processor: the Collector's keys with the Collector's defaults, plus edgetel's
built-in detectors, HMAC key sources, gen_ai content removal and the mask format."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from edgetel.config.types import Secret

URL_ATTRIBUTES = [
    "url.full",
    "url.original",
    "http.url",
    "http.target",
    "url.query",
    "url.path",
    "http.request.header.referer",
]
DB_ATTRIBUTES = ["db.statement", "db.query.text"]


def _db_attrs() -> list[str]:
    return list(DB_ATTRIBUTES)


@dataclass
class DetectorsConfig:
    """Built-in detectors, each on or off by name."""

    payment_card: bool = True
    email: bool = True
    jwt: bool = True
    bearer_token: bool = True
    basic_auth: bool = True
    url_credentials: bool = True
    aws_access_key: bool = True
    aws_secret_key: bool = True
    github_token: bool = True
    slack_token: bool = True
    stripe_key: bool = True
    google_api_key: bool = True
    private_key: bool = True
    us_ssn: bool = True
    secret_assignment: bool = True
    # attribute keys that name a credential (password, token, api_key, authorization, cookie, ...)
    sensitive_keys: bool = True
    ipv4: bool = False
    ipv6: bool = False

    def enabled(self) -> list[str]:
        return [name for name, on in vars(self).items() if on and name != "sensitive_keys"]


@dataclass
class URLSanitizerConfig:
    enabled: bool = False
    attributes: list[str] = field(default_factory=lambda: list(URL_ATTRIBUTES))
    sanitize_span_name: bool = True
    # edgetel: query parameters whose values are kept (e.g. page, limit)
    allowed_query_params: list[str] = field(default_factory=list)


@dataclass
class DBSystemConfig:
    enabled: bool = False
    attributes: list[str] = field(default_factory=_db_attrs)


@dataclass
class DBSanitizerConfig:
    sql: DBSystemConfig = field(default_factory=DBSystemConfig)
    redis: DBSystemConfig = field(default_factory=DBSystemConfig)
    valkey: DBSystemConfig = field(default_factory=DBSystemConfig)
    memcached: DBSystemConfig = field(default_factory=DBSystemConfig)
    mongo: DBSystemConfig = field(default_factory=DBSystemConfig)
    opensearch: DBSystemConfig = field(default_factory=DBSystemConfig)
    es: DBSystemConfig = field(default_factory=DBSystemConfig)
    sanitize_span_name: bool = True

    def systems(self) -> dict[str, DBSystemConfig]:
        return {k: v for k, v in vars(self).items() if isinstance(v, DBSystemConfig)}


@dataclass
class RedactionConfig:
    # --- the Collector's keys, same meaning and defaults (an empty allow-list removes every attribute) ---
    allow_all_keys: bool = False
    allowed_keys: list[str] = field(default_factory=list)
    ignored_keys: list[str] = field(default_factory=list)
    ignored_key_patterns: list[str] = field(default_factory=list)
    blocked_key_patterns: list[str] = field(default_factory=list)
    blocked_values: list[str] = field(default_factory=list)
    allowed_values: list[str] = field(default_factory=list)
    redact_all_types: bool = False
    summary: Literal["debug", "info", "silent"] = "silent"
    hash_function: Literal["", "none", "md5", "sha1", "sha3", "hmac-sha256", "hmac-sha512"] = ""
    hmac_key: Secret | None = None
    url_sanitizer: URLSanitizerConfig = field(default_factory=URLSanitizerConfig)
    db_sanitizer: DBSanitizerConfig = field(default_factory=DBSanitizerConfig)
    # --- edgetel ---
    hmac_key_file: str = ""
    detectors: DetectorsConfig = field(default_factory=DetectorsConfig)
    # what replaces a detected secret; {rule} is the detector's name
    mask_format: str = "[redacted:{rule}]"
    # gen_ai.prompt*, gen_ai.completion*, gen_ai.input.messages, ... are removed unless this is true
    keep_gen_ai_content: bool = False
    # results remembered for repeated values (telemetry repeats values a lot); 0 turns the cache off
    cache_size: int = 4096

    def validate(self) -> Iterator[tuple[str, str]]:
        for name in ("ignored_key_patterns", "blocked_key_patterns", "blocked_values", "allowed_values"):
            for i, pattern in enumerate(getattr(self, name)):
                try:
                    re.compile(pattern)
                except re.error as e:
                    yield f"{name}.{i}", f"invalid regular expression: {e}"
        if self.hash_function.startswith("hmac-"):
            if bool(self.hmac_key) == bool(self.hmac_key_file):
                yield "hash_function", f"{self.hash_function} needs exactly one of hmac_key or hmac_key_file"
            elif self.hmac_key_file and not os.access(self.hmac_key_file, os.R_OK):
                yield "hmac_key_file", f"cannot read {self.hmac_key_file}"
            else:
                need = 32 if self.hash_function == "hmac-sha256" else 64
                if self.hmac_key and len(self.hmac_key.reveal().encode()) < need:
                    yield "hmac_key", f"must be at least {need} bytes for {self.hash_function}"
        elif self.hmac_key or self.hmac_key_file:
            yield "hash_function", "hmac_key / hmac_key_file are used only with hmac-sha256 or hmac-sha512"
        if self.cache_size < 0:
            yield "cache_size", "cannot be negative"
        for sys_name, sys_cfg in self.db_sanitizer.systems().items():
            if sys_cfg.enabled and not sys_cfg.attributes:
                yield f"db_sanitizer.{sys_name}.attributes", "list at least one attribute to sanitize"
