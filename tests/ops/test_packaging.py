"""What can be checked here of the container recipe and the Kubernetes example (Docker cannot run on these
machines): the sidecar configuration validates, the Dockerfile copies files that exist and runs as non-root
with a health check, and the pod spec wires the sockets, probes and mounts the configuration expects."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_sidecar_config_validates(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "edgetel", "validate", "--config", str(ROOT / "packaging/sidecar.yaml")],
                         capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin",
                                                                          "STATE_DIRECTORY": str(tmp_path),
                                                                          "EDGETEL_HOSTFS": "/"})
    assert res.returncode == 0, res.stderr


def test_dockerfile_recipe() -> None:
    text = (ROOT / "packaging/Dockerfile").read_text()
    for src in re.findall(r"^COPY (?!--from)(\S+)", text, flags=re.M):
        assert (ROOT / src).exists(), f"Dockerfile copies {src}, which does not exist"
    assert re.search(r"^USER 10001", text, flags=re.M)
    assert "HEALTHCHECK" in text and "/healthz" in text
    assert "slim" in text.splitlines()[text.splitlines().index(next(x for x in text.splitlines() if x.startswith("FROM") and " AS " not in x))]


def test_kubernetes_sidecar_example() -> None:
    pod = yaml.safe_load((ROOT / "packaging/kubernetes-sidecar.yaml").read_text())
    sidecar = yaml.safe_load((ROOT / "packaging/sidecar.yaml").read_text())
    containers = {c["name"]: c for c in pod["spec"]["containers"]}
    agent, app = containers["edgetel"], containers["app"]
    assert agent["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert agent["readinessProbe"]["httpGet"]["path"] == "/readyz"
    mounts = {m["mountPath"]: m["name"] for m in agent["volumeMounts"]}
    assert mounts["/run/edgetel"] == "edgetel-sockets" and mounts["/hostfs"] == "hostfs"
    assert {m["mountPath"]: m["name"] for m in app["volumeMounts"]}["/run/edgetel"] == "edgetel-sockets"
    assert sidecar["receivers"]["statsd"]["unix_socket"].startswith("/run/edgetel/")
    assert sidecar["receivers"]["otlp/uds"]["protocols"]["grpc"]["endpoint"].startswith("unix:///run/edgetel/")
    assert sidecar["service"]["admin"]["endpoint"].endswith(":13133")
    assert agent["securityContext"]["runAsUser"] == 10001
