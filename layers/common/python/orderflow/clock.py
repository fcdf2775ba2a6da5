"""One place that reads the time, so every timestamp has the same shape (UTC, ISO-8601, ms)."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None = None) -> str:
    return (moment or now()).astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
