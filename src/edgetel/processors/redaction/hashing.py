"""`hash_function`: replace a secret by a hex digest instead of a fixed mask, so equal values stay linkable.

md5, sha1 and sha3 (SHA3-256) are the Collector's choices; they are unkeyed, so a short or guessable value can be
recovered by hashing candidates. hmac-sha256 / hmac-sha512 use a secret key and cannot be reversed that way.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

HASH_FUNCTIONS = ("md5", "sha1", "sha3", "hmac-sha256", "hmac-sha512")
# The Collector's minimum key lengths, in bytes.
HMAC_MIN_KEY = {"hmac-sha256": 32, "hmac-sha512": 64}

Hasher = Callable[[str], str]


def make_hasher(name: str, key: bytes = b"") -> Hasher | None:
    """The digest function for `hash_function` (None for "" / none: mask with a fixed string)."""
    if name in ("", "none"):
        return None
    if name == "md5":
        return lambda s: hashlib.md5(s.encode(), usedforsecurity=False).hexdigest()
    if name == "sha1":
        return lambda s: hashlib.sha1(s.encode(), usedforsecurity=False).hexdigest()
    if name == "sha3":
        return lambda s: hashlib.sha3_256(s.encode()).hexdigest()
    if name in HMAC_MIN_KEY:
        if len(key) < HMAC_MIN_KEY[name]:
            raise ValueError(f"{name} needs a key of at least {HMAC_MIN_KEY[name]} bytes")
        digest = hashlib.sha256 if name == "hmac-sha256" else hashlib.sha512
        return lambda s: hmac.new(key, s.encode(), digest).hexdigest()
    raise ValueError(f"unknown hash function {name!r}")


def read_key_file(path: str) -> bytes:
    """The key in `path`, without a trailing newline."""
    with open(path, "rb") as f:
        return f.read().rstrip(b"\r\n")
