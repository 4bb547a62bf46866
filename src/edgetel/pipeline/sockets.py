"""Listening sockets owned by the agent, not by receivers, so that a reload keeps them open.

A receiver asks the pool for a socket by its settings; during a reload the new receiver gets the very socket
the old one used (connections queue in the kernel meanwhile), and sockets no configuration claims any more are
closed at the end of the reload. Receivers hand asyncio a `dup()` of the pooled socket, so closing their
server never closes the pooled one.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
from collections.abc import Iterator

Key = tuple[str, str, int | str]


def parse_endpoint(endpoint: str, default_port: int = 0) -> tuple[str, int]:
    """`host:port`, `[::1]:port` or `:port` -> (host, port). Raise ValueError with a readable reason."""
    text = endpoint.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            host, port_text = text, ""
    if not port_text:
        if not default_port:
            raise ValueError(f"endpoint {endpoint!r} has no port (use host:port)")
        return host or "127.0.0.1", default_port
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"endpoint {endpoint!r}: port {port_text!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"endpoint {endpoint!r}: port {port} is out of range")
    return host or "0.0.0.0", port


def is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


class SocketPool:
    def __init__(self) -> None:
        self._sockets: dict[Key, socket.socket] = {}
        self._claimed: set[Key] = set()

    def _claim(self, key: Key) -> socket.socket | None:
        self._claimed.add(key)
        return self._sockets.get(key)

    def tcp(self, host: str, port: int, backlog: int = 1024) -> socket.socket:
        key: Key = ("tcp", host, port)
        sock = self._claim(key)
        if sock is None:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((host, port))
                sock.listen(backlog)
                sock.setblocking(False)
            except OSError:
                sock.close()
                raise
            self._sockets[key] = sock
        return sock

    def udp(self, host: str, port: int, rcvbuf: int = 0) -> socket.socket:
        key: Key = ("udp", host, port)
        sock = self._claim(key)
        if sock is None:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                if rcvbuf:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
                sock.bind((host, port))
                sock.setblocking(False)
            except OSError:
                sock.close()
                raise
            self._sockets[key] = sock
        return sock

    def unix(self, path: str, kind: int = socket.SOCK_STREAM, mode: int = 0o660, rcvbuf: int = 0) -> socket.socket:
        """A Unix socket at `path` (a stale socket file is replaced; any other file is an error)."""
        key: Key = ("unix-stream" if kind == socket.SOCK_STREAM else "unix-dgram", path, mode)
        sock = self._claim(key)
        if sock is None:
            with contextlib.suppress(FileNotFoundError):
                if not stat.S_ISSOCK(os.stat(path).st_mode):
                    raise OSError(f"{path} exists and is not a socket")
                os.unlink(path)
            # A directory made here is not group/world-writable whatever the umask: nobody else may swap the socket.
            os.makedirs(os.path.dirname(path) or ".", mode=0o755, exist_ok=True)
            sock = socket.socket(socket.AF_UNIX, kind)
            try:
                if rcvbuf:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
                old_umask = os.umask(0o777 & ~mode)
                try:
                    sock.bind(path)
                finally:
                    os.umask(old_umask)
                os.chmod(path, mode)
                if kind == socket.SOCK_STREAM:
                    sock.listen(1024)
                sock.setblocking(False)
            except OSError:
                sock.close()
                raise
            self._sockets[key] = sock
        return sock

    def begin_generation(self) -> None:
        """Start of a (re)load: sockets must be claimed again to stay open."""
        self._claimed = set()

    def end_generation(self) -> None:
        """End of a (re)load: close every socket the new configuration did not claim."""
        for key in [k for k in self._sockets if k not in self._claimed]:
            self._close(key)

    def close_all(self) -> None:
        for key in list(self._sockets):
            self._close(key)

    def _close(self, key: Key) -> None:
        sock = self._sockets.pop(key)
        if key[0].startswith("unix"):
            with contextlib.suppress(OSError):
                os.unlink(str(key[1]))
        sock.close()

    def __iter__(self) -> Iterator[Key]:
        return iter(self._sockets)
