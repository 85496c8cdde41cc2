"""Per-account token buckets: the gateway's request rate limit.

A bucket holds at most ``burst`` tokens and refills at ``rate`` tokens per second; every
counted request takes one. An empty bucket refuses the request and says how long until a
token is back (the ``retry_after_ms`` figure of a ``RATE_LIMITED`` reject). Pure: the
caller passes the monotonic time.
"""

from __future__ import annotations

import math


class TokenBucket:
    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = float(rate)
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = now

    def take(self, now: float) -> float:
        """Take one token: 0.0 if allowed, else the seconds until one is available."""
        tokens = self.tokens
        if now > self.stamp:
            tokens = min(self.burst, tokens + (now - self.stamp) * self.rate)
            self.stamp = now
        if tokens >= 1.0:
            self.tokens = tokens - 1.0
            return 0.0
        self.tokens = tokens
        return (1.0 - tokens) / self.rate


class RateLimiter:
    """One ``TokenBucket`` per account, created full on first use."""

    __slots__ = ("buckets", "burst", "rate")

    def __init__(self, rate: float, burst: float) -> None:
        TokenBucket(rate, burst, 0.0)  # validate once
        self.rate = rate
        self.burst = burst
        self.buckets: dict[int, TokenBucket] = {}

    def take(self, account: int, now: float) -> int:
        """0 if the request may pass, else the wait in whole milliseconds (at least 1)."""
        bucket = self.buckets.get(account)
        if bucket is None:
            bucket = self.buckets[account] = TokenBucket(self.rate, self.burst, now)
        wait = bucket.take(now)
        return 0 if wait == 0.0 else max(1, math.ceil(wait * 1000))
