"""How long a store or provider that does not answer is waited for: capped exponential waits within
a window (24 h by default; the stack's StoreRetry* parameters, the STORE_RETRY_* settings)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from orderflow import config


@dataclass(frozen=True)
class RetrySchedule:
    first_seconds: float = 30.0
    max_seconds: float = 1800.0
    window_seconds: float = 86400.0

    @classmethod
    def from_env(cls) -> RetrySchedule:
        settings = config.settings()
        return cls(
            settings.store_retry_first_seconds,
            settings.store_retry_max_seconds,
            settings.store_retry_window_seconds,
        )

    def wait(self, attempt: int) -> int:
        """Whole seconds to wait after the ``attempt``-th failed try (1-based), at least 1."""
        seconds = min(self.max_seconds, self.first_seconds * 2 ** min(max(0, attempt - 1), 40))
        return max(1, round(seconds))

    def waited(self, attempts: int) -> int:
        """How long the first ``attempts`` failed tries have made the order wait in all."""
        return sum(self.wait(n) for n in range(1, attempts + 1))

    def gives_up(self, attempts: int) -> bool:
        """True once another wait would take the tries beyond the window."""
        return self.waited(attempts) >= self.window_seconds

    @staticmethod
    def at(seconds_from_now: int) -> str:
        return (datetime.now(UTC) + timedelta(seconds=seconds_from_now)).isoformat(timespec="seconds")
