"""Client TLS settings (`tls:` of the gRPC and HTTP exporters), with the Collector's keys.

gRPC: `insecure: true` means plain text; otherwise TLS with the system roots or `ca_file`.
HTTP: the URL scheme decides (`https://` is TLS); the other keys apply to https URLs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ssl


@dataclass
class TLSClientSettings:
    insecure: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    insecure_skip_verify: bool = False
    server_name_override: str = ""

    def validate(self) -> Iterator[tuple[str, str]]:
        if bool(self.cert_file) != bool(self.key_file):
            missing = "key_file" if self.cert_file else "cert_file"
            yield missing, "cert_file and key_file must be set together (client certificate for mTLS)"
        for key in ("ca_file", "cert_file", "key_file"):
            path = getattr(self, key)
            if path and not os.path.isfile(path):
                yield key, f"no such file: {path}"


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def grpc_credentials(tls: TLSClientSettings) -> Any:
    """`grpc.ssl_channel_credentials` for `tls`, or None for plain text (`insecure: true`)."""
    if tls.insecure:
        return None
    import grpc

    return grpc.ssl_channel_credentials(
        root_certificates=_read(tls.ca_file) if tls.ca_file else None,
        private_key=_read(tls.key_file) if tls.key_file else None,
        certificate_chain=_read(tls.cert_file) if tls.cert_file else None,
    )


def ssl_context(tls: TLSClientSettings) -> ssl.SSLContext:
    """An SSLContext for an https client: system roots or `ca_file`, optional client certificate."""
    import ssl  # here, not at the top: loading libssl costs memory an idle agent need not pay

    ctx = ssl.create_default_context(cafile=tls.ca_file or None)
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if tls.cert_file:
        ctx.load_cert_chain(tls.cert_file, tls.key_file)
    return ctx
