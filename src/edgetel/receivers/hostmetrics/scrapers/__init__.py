"""The scrapers by name, in both naming modes."""

from __future__ import annotations

from typing import Any

from edgetel.receivers.hostmetrics.scrapers.base import PartialScrapeError, ScrapeEnv, Scraper

__all__ = ["PartialScrapeError", "ScrapeEnv", "Scraper", "build"]


def build(name: str, cfg: Any, env: ScrapeEnv, naming: str) -> Scraper:
    """The scraper `name` for `naming` ("otel" or "node_exporter"). `process` has OTel names in both modes
    (node_exporter has no per-process metrics)."""
    if naming == "node_exporter" and name != "process":
        from edgetel.receivers.hostmetrics import node_exporter as ne

        node: dict[str, type[Scraper]] = {
            "cpu": ne.NodeCPU, "memory": ne.NodeMemory, "load": ne.NodeLoad, "disk": ne.NodeDisk,
            "filesystem": ne.NodeFilesystem, "network": ne.NodeNetwork, "paging": ne.NodePaging,
            "processes": ne.NodeProcesses, "system": ne.NodeSystem,
        }  # fmt: skip
        return node[name](cfg, env)
    from edgetel.receivers.hostmetrics.scrapers import (
        cpu,
        disk,
        filesystem,
        load,
        memory,
        network,
        paging,
        process,
        processes,
        system,
    )

    otel: dict[str, type[Scraper]] = {
        "cpu": cpu.CPUScraper, "memory": memory.MemoryScraper, "load": load.LoadScraper, "disk": disk.DiskScraper,
        "filesystem": filesystem.FilesystemScraper, "network": network.NetworkScraper,
        "paging": paging.PagingScraper, "processes": processes.ProcessesScraper, "system": system.SystemScraper,
        "process": process.ProcessScraper,
    }  # fmt: skip
    return otel[name](cfg, env)
