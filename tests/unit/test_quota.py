"""Pacing on the store's quota (orderflow.bigcommerce.quota), on a clock the tests move."""

from __future__ import annotations

import random
import threading

import pytest

from orderflow.bigcommerce import quota
from orderflow.bigcommerce.quota import MARGIN, QuotaLimiter, QuotaLimiters, QuotaReading, read_quota


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FixedWindowStore:
    """BigCommerce's quota as the loopback store enforces it: a window starts with the first request
    after the last one ended; over the quota answers 429."""

    def __init__(self, clock: Clock, quota: int = 150, window: float = 30.0) -> None:
        self.clock, self.quota, self.window = clock, quota, window
        self.started: float | None = None
        self.used = 0
        self.served = 0
        self.throttled = 0
        self.per_window: list[int] = []

    def answer(self) -> tuple[int, dict[str, str]]:
        now = self.clock()
        if self.started is None or now - self.started >= self.window:
            self.started, self.used = now, 0
            self.per_window.append(0)
        status = 429 if self.used >= self.quota else 200
        if status == 200:
            self.used += 1
            self.served += 1
            self.per_window[-1] += 1
        else:
            self.throttled += 1
        reset_ms = max(1, int((self.started + self.window - now) * 1000))
        return status, {
            quota.WINDOW_HEADER: str(int(self.window * 1000)),
            quota.RESET_HEADER: str(reset_ms),
            quota.QUOTA_HEADER: str(self.quota),
            quota.LEFT_HEADER: str(self.quota - self.used),
        }


def send(limiter: QuotaLimiter, store: FixedWindowStore, clock: Clock) -> int:
    """One request paced by ``limiter``: wait as told, then send; the store's status."""
    while (admission := limiter.admit()).ticket is None:
        clock.sleep(admission.wait)
        limiter.passed(admission.until)
    status, headers = store.answer()
    limiter.settle(admission.ticket, read_quota(headers, status))
    return status


def headers(left: int, reset_ms: int, quota_: int = 150, window_ms: int = 30_000) -> dict[str, str]:
    return {
        quota.LEFT_HEADER: str(left),
        quota.RESET_HEADER: str(reset_ms),
        quota.QUOTA_HEADER: str(quota_),
        quota.WINDOW_HEADER: str(window_ms),
    }


# -- the headers -------------------------------------------------------------------------------------


def test_the_four_rate_limit_headers_are_read() -> None:
    assert read_quota(headers(42, 12_500), 200) == QuotaReading(left=42, reset=12.5, quota=150, window=30.0)


def test_a_429_leaves_nothing_until_the_reset_even_without_the_other_headers() -> None:
    assert read_quota({quota.RESET_HEADER: "250"}, 429) == QuotaReading(left=0, reset=0.25)
    assert read_quota(headers(7, 250), 429) == QuotaReading(left=0, reset=0.25, quota=150, window=30.0)


@pytest.mark.parametrize(
    ("given", "status"),
    [
        ({}, 200),  # a store (or fault) that sends no rate-limit headers
        ({quota.RESET_HEADER: "250"}, 200),  # a reset without what is left says nothing to pace on
        ({quota.LEFT_HEADER: "3"}, 200),
        ({quota.LEFT_HEADER: "3", quota.RESET_HEADER: "soon"}, 200),
        ({quota.LEFT_HEADER: "3", quota.RESET_HEADER: "nan"}, 200),
        ({quota.RESET_HEADER: "-5"}, 429),
    ],
)
def test_answers_without_a_usable_reset_are_no_reading(given: dict[str, str], status: int) -> None:
    assert read_quota(given, status) is None


def test_an_absurd_reset_or_window_is_capped() -> None:
    reading = read_quota(headers(0, 86_400_000, window_ms=86_400_000), 200)

    assert reading is not None and (reading.reset, reading.window) == (quota.MAX_WAIT, quota.MAX_WAIT)


@pytest.mark.parametrize(("quota_", "reserve"), [(150, 8), (450, 23), (30, 2), (6, 1), (1, 1)])
def test_the_reserve_is_five_percent_of_the_quota_and_at_least_one_request(quota_: int, reserve: int) -> None:
    assert quota.reserve_for(quota_) == reserve


# -- one process ---------------------------------------------------------------------------------------


def test_without_rate_limit_headers_nothing_ever_waits() -> None:
    limiter = QuotaLimiter(clock=Clock())

    for _ in range(1000):
        admission = limiter.admit()
        assert admission.ticket is not None and admission.wait == 0
        limiter.settle(admission.ticket, None)

    assert limiter.allowance is None


def test_requests_go_until_the_store_count_reaches_the_reserve_then_wait_for_the_reset() -> None:
    # Given a first answer: 149 of 150 left, the window resetting in 20 s
    clock = Clock()
    limiter = QuotaLimiter(clock=clock)
    first = limiter.admit()
    assert first.ticket is not None
    limiter.settle(first.ticket, read_quota(headers(149, 20_000), 200))

    # Then 141 more go at once (149 less the reserve of 8), and the next waits for the reset
    admitted = [limiter.admit() for _ in range(141)]
    assert all(a.ticket is not None and a.wait == 0 for a in admitted)
    blocked = limiter.admit()
    assert blocked.ticket is None
    assert blocked.wait == pytest.approx(20 + MARGIN)

    # When that wait is over, the new window is assumed full (less the requests still out)
    clock.sleep(blocked.wait)
    limiter.passed(blocked.until)
    assert limiter.allowance == 150 - 8 - 141


def answer(limiter: QuotaLimiter, given: dict[str, str], status: int = 200) -> None:
    admission = limiter.admit()
    assert admission.ticket is not None
    limiter.settle(admission.ticket, read_quota(given, status))


def test_a_window_is_spent_by_others_too_the_lower_count_is_believed() -> None:
    # Given our count of 141 left after a first answer
    limiter = QuotaLimiter(clock=Clock())
    answer(limiter, headers(149, 20_000))
    assert limiter.allowance == 141

    # When the next answer says 140 are left: another app sent 8 requests in between
    answer(limiter, headers(140, 19_000))

    # Then the store's lower count is believed (140 less the reserve), and the others are noted
    assert limiter.allowance == 132
    assert limiter.others == 4.0  # smoothed: 8 now, none known before
    # And an answer of the same window saying more is left does not raise it again
    answer(limiter, headers(141, 18_000))
    assert limiter.allowance == 131


class Chances(random.Random):
    """The limiter's chance draws, in order."""

    def __init__(self, *draws: float) -> None:
        super().__init__()
        self.draws = list(draws)

    def random(self) -> float:
        return self.draws.pop(0)


def limiter_seeing_others(left: int, others: int, *draws: float) -> QuotaLimiter:
    """A limiter whose last two answers were ``others`` requests of others apart, ``left`` left."""
    limiter = QuotaLimiter(clock=Clock(), rng=Chances(*draws))
    answer(limiter, headers(left + 2 * others + 2, 20_000))
    answer(limiter, headers(left + others + 1, 19_900))
    answer(limiter, headers(left, 19_800))
    return limiter


def test_with_plenty_left_others_sending_change_nothing() -> None:
    limiter = limiter_seeing_others(100, 10)
    assert limiter.others == 7.5  # (0 + 10) / 2, then (5 + 10) / 2

    assert all(limiter.admit().ticket is not None for _ in range(70))


def test_at_the_end_of_a_window_shared_with_others_a_process_takes_its_share_by_chance() -> None:
    # Given 8 over the reserve left while the others send about 7.5 between two of our answers: of
    # what will be left when ours lands (8 - 3.75), our share is 4.25 / 8.5 = 0.5
    sent = limiter_seeing_others(16, 10, 0.49)
    held = limiter_seeing_others(16, 10, 0.51)

    # Then a draw under the share sends, one over it waits for the reset
    assert sent.admit().ticket is not None
    waiting = held.admit()
    assert waiting.ticket is None and waiting.wait == pytest.approx(19.8 + MARGIN)
    assert held.allowance == 0


def test_requests_sent_after_an_answered_one_are_held_against_what_it_says_is_left() -> None:
    # Given three requests out at once in a window with 50 left when the first was counted
    limiter = QuotaLimiter(clock=Clock())
    warm = limiter.admit()
    assert warm.ticket is not None
    limiter.settle(warm.ticket, read_quota(headers(60, 20_000), 200))
    first, *_ = [limiter.admit().ticket for _ in range(3)]
    assert first is not None

    # When the first answers with 50 left, the two sent after it may not be counted yet
    limiter.settle(first, read_quota(headers(50, 19_000), 200))

    assert limiter.allowance == 50 - 8 - 2


def test_a_429_stops_every_request_until_the_reset_and_answers_from_an_ended_window_are_ignored() -> None:
    # Given a window another app has spent: our request answered 429, reset in 4 s
    clock = Clock()
    limiter = QuotaLimiter(clock=clock)
    first, straggler = limiter.admit(), limiter.admit()
    assert first.ticket is not None and straggler.ticket is not None
    limiter.settle(first.ticket, read_quota(headers(0, 4_000), 429))

    # Then nobody sends before the reset
    blocked = limiter.admit()
    assert blocked.ticket is None and blocked.wait == pytest.approx(4 + MARGIN)

    # When the reset has passed, the new window is assumed full less the request still out
    clock.sleep(blocked.wait)
    limiter.passed(blocked.until)
    assert limiter.allowance == 150 - 8 - 1
    # And that request's answer, from the old window, gives its token back to the new one
    limiter.settle(straggler.ticket, read_quota(headers(0, 1), 429))
    assert limiter.allowance == 150 - 8


def test_an_answer_from_the_new_window_replaces_the_assumption_of_a_full_one() -> None:
    clock = Clock()
    limiter = QuotaLimiter(clock=clock)
    first = limiter.admit()
    assert first.ticket is not None
    limiter.settle(first.ticket, read_quota(headers(10, 1_000), 200))
    clock.sleep(2)

    # After the reset, the new window's first answer says another app already took 100
    fresh = limiter.admit()
    assert fresh.ticket is not None and limiter.allowance == 150 - 8 - 1
    limiter.settle(fresh.ticket, read_quota(headers(49, 25_000), 200))

    assert limiter.allowance == 49 - 8


def test_a_spent_window_no_answer_has_described_comes_back_after_a_whole_window() -> None:
    # Given a known quota, a window that reset, and every request of the new one lost (no answer)
    clock = Clock()
    limiter = QuotaLimiter(clock=clock)
    first = limiter.admit()
    assert first.ticket is not None
    limiter.settle(first.ticket, read_quota(headers(5, 1_000, quota_=10, window_ms=2_000), 200))
    clock.sleep(1.5)
    for _ in range(9):
        admission = limiter.admit()
        assert admission.ticket is not None
        limiter.settle(admission.ticket, None)

    # Then the next request waits one window, not forever, and goes after it
    blocked = limiter.admit()
    assert blocked.ticket is None and blocked.wait == pytest.approx(2 + MARGIN)
    clock.sleep(blocked.wait)
    limiter.passed(blocked.until)
    assert limiter.admit().ticket is not None


def test_a_sleep_that_does_not_sleep_still_waits_once() -> None:
    # A caller's sleep is trusted (a test's fake sleep leaves the clock where it was)
    limiter = QuotaLimiter(clock=Clock())
    first = limiter.admit()
    assert first.ticket is not None
    limiter.settle(first.ticket, read_quota(headers(8, 3_000), 200))

    blocked = limiter.admit()
    assert blocked.ticket is None
    limiter.passed(blocked.until)

    assert limiter.admit().ticket is not None


# -- against a store enforcing the quota --------------------------------------------------------------


def test_one_process_uses_at_least_90_percent_of_the_quota_and_meets_no_429() -> None:
    clock = Clock()
    store = FixedWindowStore(clock)
    limiter = QuotaLimiter(clock=clock)

    statuses = [send(limiter, store, clock) for _ in range(1_500)]

    assert 429 not in statuses and store.throttled == 0
    full = store.per_window[:-1]
    assert len(full) == 10 and min(full) == 150 - 8  # 94.7 % of each window, the reserve left


@pytest.mark.parametrize("processes", [2, 8, 16])
def test_processes_with_a_limiter_each_stay_within_the_store_quota(processes: int) -> None:
    # Given separate processes (one limiter each), each with one request out at a time, all sending
    # before any answer comes back (the worst case), and the store saying what is left to each
    clock = Clock()
    store = FixedWindowStore(clock)
    limiters = [QuotaLimiter(clock=clock, rng=random.Random(n)) for n in range(processes)]

    # When they send 1,500 requests between them
    sent = 0
    while sent < 1_500:
        admissions = [(limiter, limiter.admit()) for limiter in limiters]
        out = [
            (limiter, admission.ticket) for limiter, admission in admissions if admission.ticket is not None
        ]
        if not out:  # all wait for the reset
            clock.now = min(admission.until for _, admission in admissions)
            continue
        for limiter, ticket in out:
            status, answer = store.answer()
            limiter.settle(ticket, read_quota(answer, status))
            sent += 1
        clock.sleep(0.05)  # the round trip, and the work between two requests

    # Then no request met a 429, and each window served at least 90 % of the quota
    assert store.throttled == 0
    assert min(store.per_window[:-1]) >= 135


# -- the registry --------------------------------------------------------------------------------------


def test_one_limiter_per_store_shared_by_the_threads_of_a_process() -> None:
    found: list[QuotaLimiter] = []

    def look() -> None:
        found.append(quota.limiter_for("https://api.example/stores/abc"))

    threads = [threading.Thread(target=look) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({id(limiter) for limiter in found}) == 1
    assert found[0] is not quota.limiter_for("https://api.example/stores/other")


def test_a_simulated_process_has_limiters_of_its_own() -> None:
    shared = quota.limiter_for("https://api.example/stores/abc")
    separate = QuotaLimiters()

    with quota.own_limiters(separate) as limiters:
        inside = quota.limiter_for("https://api.example/stores/abc")

    assert limiters is separate and inside is separate.for_store("https://api.example/stores/abc")
    assert inside is not shared
    assert quota.limiter_for("https://api.example/stores/abc") is shared
