"""hostmetrics receiver: the host's resource metrics, scraped on an interval."""
