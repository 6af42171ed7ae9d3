"""Branch side: how long a branch waits after a failed exchange with head office, and between two push requests.
Free of Django so the chain simulator (bench/chain_scale.py) backs off and paces with exactly the branch's formulas."""

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

BACKOFF_BASE_S = 1.0
# A Retry-After longer than this is read as this: a misconfigured proxy must not park a store's sync for hours.
RETRY_AFTER_MAX_S = 300.0


def jittered_backoff(failures: int, *, cap: float, retry_after: float = 0.0) -> float:
    """Exponential backoff with jitter, capped: 1 s, 2 s, 4 s ... up to ``cap``, each between half and all of it;
    and never sooner than central asked (``retry_after``, from a 429/503's Retry-After header)."""
    jittered = random.uniform(0.5, 1.0) * min(cap, BACKOFF_BASE_S * 2 ** max(0, failures - 1))
    return max(jittered, min(retry_after, RETRY_AFTER_MAX_S))


def backoff_after_failure(failures: int, refusals: int, *, cap: float, retry_after: float) -> float:
    """The wait after a failed push. ``failures``: the pushes failed in a row, this one included; ``refusals``: of
    those, the last ones in a row that central answered asking for a wait (a 429/503 with Retry-After), this one
    included if it was one. While central answers that way it is up and pacing the chain, so the exponent is the
    refusals: how long it was unreachable before (an outage's failures, which hold the backoff at its cap) says
    nothing about when one of its slots frees, and kept a store idle for its capped backoff per refusal after an
    outage, the tail of the catch-up (docs/benchmarks.md). Refused again and
    again, the store still backs off to the cap. Without a Retry-After (no answer, a proxy's 502) the exponent is every
    failure."""
    return jittered_backoff(refusals if retry_after > 0 else failures, cap=cap, retry_after=retry_after)


def refusals_counted(refusals: int, *, retry_after: float) -> int:
    """The refusals in a row after one more failed push: one more if central asked for a wait (``retry_after``),
    none if it did not (any other failure ends the run)."""
    return refusals + 1 if retry_after > 0 else 0


def kick_pause(interval: float) -> float:
    """How long a branch's push pacing rests after asking for a push: ``interval`` on average, drawn between half
    and one and a half of it, so stores that started selling at the same moment (opening time, the end of an outage)
    drift out of step instead of pushing in lockstep. Without it, 500 stores that began together pushed within the
    same two seconds of every ten (docs/scale-runs.md, "In step")."""
    return interval * random.uniform(0.5, 1.5)


def retry_after_parse(value: str | None, *, now: datetime | None = None) -> float:
    """Seconds from a Retry-After header (delay-seconds or an HTTP date, RFC 9110 §10.2.3); 0 when absent or
    unreadable."""
    if not value:
        return 0.0
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
