"""The edge check's retries: a check fails only when it fails on every attempt, so one blip (a
Caddy reload, a dropped connection) does not page."""

from __future__ import annotations

from scripts.edge_check import Check, checks_that_last

NAMES = ("https://a/healthz", "wss://a/socket.io", "https://b/healthz", "wss://b/rtc")


def runs(*failing_per_attempt: set[str]) -> tuple[list[list[Check]], list[float]]:
    attempts = [
        [Check(name, "refused" if name in failing else None) for name in NAMES] for failing in failing_per_attempt
    ]
    return attempts, []


def test_a_blip_that_passes_on_the_next_attempt_is_not_a_failure() -> None:
    attempts, slept = runs({NAMES[1]}, set())
    result = checks_that_last(lambda: attempts.pop(0), 3, 60, slept.append)
    assert all(check.failure is None for check in result) and slept == [60] and not attempts


def test_a_failure_that_lasts_every_attempt_fails_and_names_its_check() -> None:
    attempts, slept = runs({NAMES[0], NAMES[3]}, {NAMES[0]}, {NAMES[0], NAMES[2]})
    result = checks_that_last(lambda: attempts.pop(0), 3, 30, slept.append)
    assert [check.name for check in result if check.failure] == [NAMES[0]], "only what failed every time"
    assert slept == [30, 30]


def test_one_attempt_is_the_plain_check() -> None:
    attempts, slept = runs({NAMES[2]})
    result = checks_that_last(lambda: attempts.pop(0), 1, 60, slept.append)
    assert [check.name for check in result if check.failure] == [NAMES[2]] and slept == []
