"""Pacing on a store's API quota: one limiter per store in a process, fed by the X-Rate-Limit-* headers
of every answer, so our requests stop short of a reserve left for the merchant's other apps."""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

WINDOW_HEADER = "X-Rate-Limit-Time-Window-Ms"
RESET_HEADER = "X-Rate-Limit-Time-Reset-Ms"
QUOTA_HEADER = "X-Rate-Limit-Requests-Quota"
LEFT_HEADER = "X-Rate-Limit-Requests-Left"

# Of each window's quota, what we leave to the merchant's other apps (at least one request).
RESERVE_SHARE = 0.05
# A reset or window longer than this is more likely a broken header than the store's quota.
MAX_WAIT = 60.0
# The reset header is whole milliseconds, rounded down: waiting a little past it makes sure the next
# request lands in the new window rather than at the old one's last instant.
MARGIN = 0.005
# BigCommerce's window, assumed only until an answer says what it is.
DEFAULT_WINDOW = 30.0


@dataclass(frozen=True)
class QuotaReading:
    """What one answer said about the store's quota: requests left in the window, seconds until it
    resets, and (when sent) the quota and the window's length."""

    left: int
    reset: float
    quota: int | None = None
    window: float | None = None


def read_quota(headers: Mapping[str, str], status: int) -> QuotaReading | None:
    """The answer's quota headers; None without a usable reset time. A 429 leaves nothing until the
    reset, whatever else it says."""
    reset_ms = _number(headers.get(RESET_HEADER))
    if reset_ms is None or reset_ms < 0:
        return None
    left = _number(headers.get(LEFT_HEADER))
    if status == 429:
        left = 0.0
    elif left is None:
        return None
    quota = _number(headers.get(QUOTA_HEADER))
    window_ms = _number(headers.get(WINDOW_HEADER))
    return QuotaReading(
        left=max(0, int(left)),
        reset=min(reset_ms / 1000.0, MAX_WAIT),
        quota=int(quota) if quota is not None and quota >= 1 else None,
        window=min(window_ms / 1000.0, MAX_WAIT) if window_ms is not None and window_ms > 0 else None,
    )


def reserve_for(quota: int) -> int:
    """Requests of each window left to the merchant's other apps: 8 of BigCommerce's 150, 23 of 450."""
    return max(1, math.ceil(quota * RESERVE_SHARE))


@dataclass(frozen=True)
class Admission:
    """``ticket`` when the request may go now (hand it back with the answer's headers); otherwise wait
    ``wait`` seconds, tell the limiter the wait ran to ``until`` (its clock), and ask again."""

    ticket: int | None
    wait: float = 0.0
    until: float = 0.0


class QuotaLimiter:
    """A token bucket per store, refilled when the store's window resets.

    Every request takes a token (its ticket); every answer's headers set what is left: the requests
    the store says are left, less the reserve, less our requests sent after this one and still out
    (the store had not counted them yet). Within one window only a lower count is believed, since our
    own requests are counted here as they leave. When nothing is left, requests wait for the reset;
    after it the bucket is assumed full (less the requests still out, which may land in the new
    window) until an answer from the new window says otherwise.

    Several processes (one per Lambda container) each keep their own limiter and know nothing of the
    others but what the store's count says: between two of our answers it drops by our requests and
    by the others'. Each process then expects the others to send about as many again before its next
    answer, so at the end of a window, when what is left over the reserve is no more than that, it
    sends only with the chance of its share (left / (others + 1)) and otherwise waits for the reset:
    together they fill the window up to about the reserve instead of all sending on the same stale
    count. Alone (others 0) nothing is left to chance.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, rng: random.Random | None = None):
        self.clock = clock
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._quota: int | None = None
        self._window: float | None = None
        # When the window the allowance counts in resets (by this clock); None before any reading.
        self._end: float | None = None
        # Requests we may still start before the reset; None when no quota is known (no limit).
        self._allowance: int | None = None
        # Set once the known window has reset: the allowance then assumes a fresh window that no
        # answer has described yet, and answers from the old window have nothing more to say.
        self._rolled_at: float | None = None
        self._next_ticket = 0
        self._out: set[int] = set()
        self._straddling: set[int] = set()
        # The last answer of the current window (ticket, left), and how many requests others sent
        # between two of our answers, smoothed.
        self._seen: tuple[int, int] | None = None
        self._others = 0.0

    def __repr__(self) -> str:
        return f"QuotaLimiter(quota={self._quota}, window={self._window}, allowance={self._allowance})"

    @property
    def allowance(self) -> int | None:
        """Requests this limiter would still let go before the window resets (None: no limit known)."""
        with self._lock:
            return self._allowance

    @property
    def reserve(self) -> int:
        with self._lock:
            return self._reserve()

    @property
    def others(self) -> float:
        """Requests the store counted from others (apps, processes) between two of our answers."""
        with self._lock:
            return self._others

    def admit(self) -> Admission:
        with self._lock:
            now = self.clock()
            if self._rolled_at is None and self._end is not None and now >= self._end + MARGIN:
                self._roll(now)
            if self._allowance is not None and self._allowance > 0 and self._others > 0:
                # Since our last answer the others have sent about half a round of theirs: of what
                # will be left, take our share, by chance when it is less than one request.
                share = (self._allowance - self._others / 2) / (self._others + 1)
                if share < 1 and self._rng.random() >= share:
                    self._allowance = 0
            if self._allowance is None or self._allowance > 0:
                if self._allowance is not None:
                    self._allowance -= 1
                ticket = self._next_ticket
                self._next_ticket += 1
                self._out.add(ticket)
                return Admission(ticket)
            until = self._spent_until() + MARGIN
            return Admission(None, max(0.0, until - now), until)

    def passed(self, until: float) -> None:
        """The caller waited until ``until`` (this limiter's clock); a window that ended by then is
        over. Trusting the wait rather than reading the clock again keeps waits deterministic under a
        test's sleep that does not sleep."""
        with self._lock:
            spent = self._allowance is not None and self._allowance <= 0
            if spent and until >= self._spent_until():
                self._roll(until)

    def settle(self, ticket: int, reading: QuotaReading | None) -> None:
        """The request of ``ticket`` is answered (with its headers' reading) or given up on (None)."""
        with self._lock:
            later = sum(1 for other in self._out if other > ticket)
            self._out.discard(ticket)
            straddled = ticket in self._straddling
            self._straddling.discard(ticket)
            if reading is None:
                return
            now = self.clock()
            if reading.quota is not None:
                self._quota = reading.quota
            if reading.window is not None:
                self._window = reading.window
            end = now + reading.reset
            # Answers of one window agree on its end within the trip back; the next ends a window later.
            tolerance = self._window / 2 if self._window else 0.0
            newer = self._end is None or end > self._end + tolerance
            self._note_others(ticket, reading, newer=newer)
            # Not counted by the store yet, as far as we know: our requests sent after this one, and
            # those sent before the last reset that may land in the new window.
            usable = reading.left - self._reserve() - later - len(self._straddling)
            if newer:
                # A window no answer had described: what it says is left is the truth, less what we
                # started since we assumed it fresh.
                if self._rolled_at is not None and self._allowance is not None:
                    usable = min(usable, self._allowance)
                self._allowance, self._end, self._rolled_at = usable, end, None
            elif self._rolled_at is None and self._end is not None and end >= self._end - tolerance:
                # The same window: our own count already holds our requests; the store's may be lower
                # because others (apps, processes) spent some too.
                self._allowance = usable if self._allowance is None else min(self._allowance, usable)
                # The earliest estimate is the one least delayed by the trip back.
                self._end = min(self._end, end)
            elif straddled and self._allowance is not None:
                # Counted in the window that has reset since: it took nothing from this one.
                self._allowance += 1

    def _note_others(self, ticket: int, reading: QuotaReading, *, newer: bool) -> None:
        """Others' requests between this answer and our previous one of the same window: how much
        the store's count dropped beyond our own requests sent in between."""
        if newer:
            self._seen = (ticket, reading.left)
            return
        if self._seen is None or ticket <= self._seen[0] or reading.left == 0:
            return  # an answer overtaken by a later one, or a 429 (its count says nothing more)
        previous, left = self._seen
        others = max(0, left - reading.left - (ticket - previous))
        self._others = (self._others + others) / 2
        self._seen = (ticket, reading.left)

    def _reserve(self) -> int:
        return reserve_for(self._quota) if self._quota else 1

    def _spent_until(self) -> float:
        """When an allowance spent now comes back."""
        if self._rolled_at is None:
            assert self._end is not None  # an allowance comes from an answer, or from a roll
            return self._end
        # Spent in a window no answer has described yet, which cannot outlast a whole window.
        return self._rolled_at + (self._window or DEFAULT_WINDOW)

    def _roll(self, now: float) -> None:
        # Requests still out may be counted in the new window: they are held against it until their
        # answers say which window counted them.
        self._straddling = set(self._out)
        self._allowance = self._quota - self._reserve() - len(self._straddling) if self._quota else None
        self._rolled_at = now


class QuotaLimiters:
    """One limiter per store (keyed by its API base: the API URL and the store hash), shared by the
    threads of a process and by every client of that store in it."""

    def __init__(self, factory: Callable[[], QuotaLimiter] = QuotaLimiter) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._limiters: dict[str, QuotaLimiter] = {}

    def for_store(self, store: str) -> QuotaLimiter:
        with self._lock:
            limiter = self._limiters.get(store)
            if limiter is None:
                limiter = self._limiters[store] = self._factory()
            return limiter


PROCESS_LIMITERS = QuotaLimiters()
_own: ContextVar[QuotaLimiters | None] = ContextVar("orderflow_quota_limiters", default=None)


def limiter_for(store: str) -> QuotaLimiter:
    """This process's limiter for ``store``, or the one of the limiters the caller runs under."""
    return (_own.get() or PROCESS_LIMITERS).for_store(store)


@contextmanager
def own_limiters(limiters: QuotaLimiters | None = None) -> Iterator[QuotaLimiters]:
    """Run the block with limiters of its own, as a separate process has: the local runtime runs every
    Lambda on threads of one process, and a simulation of many Lambda containers gives each its own."""
    scoped = limiters or QuotaLimiters()
    token = _own.set(scoped)
    try:
        yield scoped
    finally:
        _own.reset(token)


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None
