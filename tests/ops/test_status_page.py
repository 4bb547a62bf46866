"""The status page in a real headless browser (Debian chromium): it renders the pipelines and reflects a known
load; a screenshot is saved for people to look at."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.agentproc import AgentProcess, wait_for
from tests.helpers import IN_CI

CONFIG = """
receivers:
  hostmetrics: {collection_interval: 1h, initial_delay: 0s, scrapers: {load: {}}}
processors:
  batch: {timeout: 10ms}
exporters:
  file: {path: "{out}"}
  file/broken: {path: /proc/forbidden/x.jsonl, retry_on_failure: {enabled: false}}
service:
  pipelines:
    metrics: {receivers: [hostmetrics], processors: [batch], exporters: [file, file/broken]}
  admin: {endpoint: "{admin}"}
"""

SCREENSHOTS = Path(__file__).resolve().parents[2] / "tests" / "artifacts"


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if IN_CI:
            pytest.fail("chromium is missing (scripts/setup.sh --peers installs Debian's chromium)")
        pytest.skip("chromium not installed (Debian package chromium; scripts/setup.sh --peers installs it)")
    return path


def browse(browser: str, url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--virtual-time-budget=4000", *extra, url]
    return subprocess.run(args, capture_output=True, text=True, timeout=90)


def test_status_page_shows_pipelines_and_known_load(tmp_path: Path) -> None:
    browser = chromium()
    out = tmp_path / "out.jsonl"
    with AgentProcess(CONFIG.replace("{out}", str(out)), workdir=tmp_path) as agent:
        # One scrape of the load scraper: exactly 3 points (1m, 5m, 15m) through the pipeline.
        wait_for(lambda: agent.metric("edgetel_exporter_sent_metric_points_total", exporter="file") == 3)
        wait_for(lambda: agent.metric("edgetel_exporter_send_failed_metric_points_total", exporter="file/broken") == 3)
        status = json.loads(agent.get("/status.json")[1])
        assert status["ready"] is True
        assert [c["id"] for c in status["pipelines"][0]["components"]] == ["hostmetrics", "batch", "file", "file/broken"]

        dom = browse(browser, agent.url("/"), tmp_path / "profile", "--dump-dom").stdout
        assert 'data-pipeline="metrics"' in dom
        for comp in ("receiver/hostmetrics", "processor/batch", "exporter/file", "exporter/file/broken"):
            assert f'data-component="{comp}"' in dom
        text = re.sub(r"<[^>]+>", " ", dom)
        assert re.search(r"exporter_sent_metric_points_total\s+3\b", text), text[:2000]
        assert re.search(r"exporter_send_failed_metric_points_total\s+3\b", text)
        assert "ready" in text and "export failed permanently" in text

        SCREENSHOTS.mkdir(exist_ok=True)
        shot = SCREENSHOTS / "status-page.png"
        res = browse(browser, agent.url("/"), tmp_path / "profile2", f"--screenshot={shot}", "--window-size=1280,720")
        assert shot.exists() and shot.stat().st_size > 5000, res.stderr[-2000:]
