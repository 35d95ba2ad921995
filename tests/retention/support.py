"""Helpers of the retention tests: rows aged as if they had been logged long ago, and a scrape as Prometheus does."""
import re
from datetime import timedelta

from django.utils import timezone

SAMPLE = re.compile(r'^([a-z0-9_]+)(\{[^}]*\})? (\S+)$')
METRICS_TOKEN = "retention-scrape-token"


def age(row, days: float):
    """Move a log row's received_at `days` into the past (auto_now_add cannot be given on create)."""
    type(row).objects.filter(pk=row.pk).update(received_at=timezone.now() - timedelta(days=days))
    row.refresh_from_db()
    return row


def scrape(client) -> dict[str, float]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200, response.content
    samples = {}
    for line in response.content.decode().splitlines():
        if line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, line
        samples[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return samples
