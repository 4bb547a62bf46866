"""Run the real agent as a subprocess for end-to-end tests: `with AgentProcess(config_text) as agent: ...`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AgentProcess:
    """The agent in its own process. `{admin}` in the config text is replaced by a free admin endpoint."""

    def __init__(self, config_text: str, workdir: Path | None = None, env: dict[str, str] | None = None) -> None:
        self.dir = workdir or Path(tempfile.mkdtemp(prefix="edgetel-test-"))
        self.admin_port = free_port()
        self.config_path = self.dir / "agent.yaml"
        self.write_config(config_text)
        self.log_path = self.dir / "agent.log"
        self.env = {**os.environ, "STATE_DIRECTORY": str(self.dir / "state"), **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def write_config(self, text: str) -> None:
        self.config_path.write_text(text.replace("{admin}", f"127.0.0.1:{self.admin_port}"))

    def start(self, wait_ready: bool = True, timeout: float = 20.0) -> AgentProcess:
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edgetel", "run", "--config", str(self.config_path)],
            stdout=self._log, stderr=subprocess.STDOUT, env=self.env,
        )
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.admin_port}{path}"

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url(path), timeout=5) as r:
                return int(r.status), r.read().decode()
        except urllib.error.HTTPError as e:
            return int(e.code), e.read().decode()

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"agent exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                if self.get("/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"agent not ready after {timeout}s:\n{self.logs()}")

    def metric(self, name: str, **labels: str) -> float:
        """The value of one self-metric sample on /metrics (0 when absent)."""
        want = ",".join(f'{k}="{v}"' for k, v in labels.items())
        key = f"{name}{{{want}}}" if want else name
        for line in self.get("/metrics")[1].splitlines():
            if line.startswith(key + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def send(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> AgentProcess:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.kill()
        if not self._log.closed:
            self._log.close()


def wait_for(predicate: object, timeout: float = 15.0, interval: float = 0.05) -> None:
    """Poll `predicate()` until it is true, for at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")
