"""The Debian package, built by packaging/build-deb.sh and installed into a throwaway Debian root made with
debootstrap; `edgetel validate` and `edgetel run` then run from the installed files, as the package's user."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agentproc import free_port, wait_for
from tests.helpers import IN_CI

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "edgetel"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def need(condition: bool, reason: str) -> None:
    if not condition:
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)


def debian_mirror() -> str:
    for line in Path("/etc/apt/sources.list.d/debian.sources").read_text().splitlines():
        if line.startswith("URIs:"):
            return line.split()[1]
    raise AssertionError("no Debian mirror configured in /etc/apt/sources.list.d/debian.sources")


def debian_root(dest: Path) -> None:
    """A minimal Debian bookworm root with python3 at `dest` (the debootstrap result is cached as a tarball)."""
    tarball = CACHE / "bookworm-minbase-python3.tar"
    if not tarball.exists():
        build = dest.parent / "debootstrap"
        subprocess.run(["debootstrap", "--variant=minbase", "--include=python3,adduser", "bookworm", str(build),
                        debian_mirror()], check=True, capture_output=True, timeout=900)
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(["tar", "-C", str(build), "-cf", str(tarball) + ".part", "."], check=True, timeout=300)
        os.replace(str(tarball) + ".part", tarball)
        shutil.rmtree(build)
    dest.mkdir()
    subprocess.run(["tar", "-C", str(dest), "-xf", str(tarball)], check=True, timeout=300)


@contextlib.contextmanager
def proc_mounted(root: Path) -> Iterator[None]:
    target = root / "proc"
    subprocess.run(["mount", "-t", "proc", "proc", str(target)], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


def chroot(root: Path, *args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    cmd = ["chroot", *([f"--userspec={user}:{user}"] if user else []), str(root), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_package_installs_validates_runs_and_purges(tmp_path: Path) -> None:
    need(os.geteuid() == 0, "installing into a Debian root needs root")
    for tool in ("debootstrap", "dpkg-deb", "chroot"):
        need(shutil.which(tool) is not None, f"{tool} is not installed (scripts/setup.sh --peers installs it)")
    need(Path("/usr/bin/python3").exists(), "Debian's python3 is needed to build the package")
    out = subprocess.run([str(REPO / "packaging" / "build-deb.sh"), str(tmp_path / "dist")], capture_output=True,
                         text=True, timeout=600, check=True)
    deb = Path(out.stdout.strip().splitlines()[-1])
    assert deb.exists()
    root = tmp_path / "root"
    try:
        debian_root(root)
        shutil.copy(deb, root / "tmp" / deb.name)
        res = chroot(root, "dpkg", "-i", f"/tmp/{deb.name}")
        assert res.returncode == 0, res.stdout + res.stderr
        assert (root / "usr/bin/edgetel").is_symlink()
        assert (root / "lib/systemd/system/edgetel.service").exists()
        assert "net.ipv4.tcp_migrate_req = 1" in (root / "usr/lib/sysctl.d/60-edgetel.conf").read_text()
        assert "/etc/edgetel/agent.yaml" in (root / "var/lib/dpkg/info/edgetel.conffiles").read_text()
        res = chroot(root, "/usr/bin/edgetel", "validate", "--config", "/etc/edgetel/agent.yaml")
        assert res.returncode == 0, res.stderr
        assert chroot(root, "id", "-u", "edgetel").returncode == 0
        # the package carries the compiled hot paths, not only their Python fallbacks
        native = sorted(c.stem for c in (REPO / "src/edgetel/_native").glob("*.c"))
        res = chroot(root, "/opt/edgetel/bin/python", "-c", "; ".join(f"import edgetel._native.{m}" for m in native))
        assert res.returncode == 0, res.stderr

        port = free_port()
        cfg = (root / "etc/edgetel/agent.yaml").read_text().replace("127.0.0.1:13133", f"127.0.0.1:{port}")
        cfg = cfg.replace("collection_interval: 10s", "collection_interval: 200ms").replace("timeout: 1s", "timeout: 10ms")
        # The real default ports may be taken on a test machine: move the listeners to free ones.
        for port_default in ("4317", "4318", "8125"):
            cfg = cfg.replace(f"127.0.0.1:{port_default}", f"127.0.0.1:{free_port()}")
        (root / "etc/edgetel/agent.yaml").write_text(cfg)
        with proc_mounted(root):
            env = {"PATH": "/usr/bin:/bin", "STATE_DIRECTORY": "/var/lib/edgetel", "HOME": "/var/lib/edgetel"}
            proc = subprocess.Popen([shutil.which("chroot") or "/usr/sbin/chroot", "--userspec=edgetel:edgetel", str(root), "/usr/bin/edgetel", "run",
                                     "--config", "/etc/edgetel/agent.yaml"], env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            try:
                def ready() -> bool:
                    try:
                        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                            return bool(r.status == 200)
                    except OSError:
                        return False

                try:
                    wait_for(ready, timeout=30)
                except AssertionError:
                    proc.kill()
                    assert proc.stdout is not None
                    raise AssertionError("agent in the Debian root never became ready:\n" + proc.stdout.read().decode()) from None
                # No Prometheus here: host metrics wait in the remote-write exporter's disk buffer.
                buffers = root / "var/lib/edgetel/buffers"

                def buffered() -> bool:
                    return any(f.stat().st_size > 64 for f in buffers.rglob("*") if f.is_file())

                try:
                    wait_for(buffered, timeout=30)
                except AssertionError:
                    proc.kill()
                    assert proc.stdout is not None
                    files = [str(f) for f in buffers.rglob("*")] if buffers.exists() else []
                    raise AssertionError(f"nothing buffered ({files}):\n" + proc.stdout.read().decode()) from None
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(30) == 0
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
            assert proc.stdout is not None
            log = proc.stdout.read().decode()
            assert "edgetel started" in log and "permission" not in log.lower(), log
            assert "is not built" not in log, log
        time.sleep(0.2)
        res = chroot(root, "dpkg", "--purge", "edgetel")
        assert res.returncode == 0, res.stdout + res.stderr
        assert not (root / "opt/edgetel").exists() and not (root / "var/lib/edgetel").exists()
        assert chroot(root, "id", "-u", "edgetel").returncode != 0
    finally:
        if (root / "proc").is_mount():
            subprocess.run(["umount", "-l", str(root / "proc")], check=False)
        if not (root / "proc").is_mount():
            shutil.rmtree(root, ignore_errors=True)
