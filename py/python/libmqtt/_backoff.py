"""The reconnect backoff of the drivers (:mod:`libmqtt.asyncio`,
:mod:`libmqtt.sync`): exponential, with "equal jitter", as the core's
``Backoff`` and the C ``mqtt_backoff_next``."""

from __future__ import annotations

import random


class Backoff:
    """Attempt ``n`` waits ``uniform(d / 2, d)`` seconds with
    ``d = min(max_delay, min_delay * 2**n)``: half of the delay is a floor,
    the other half spreads the clients that lost the same server."""

    def __init__(self, min_delay: float, max_delay: float) -> None:
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.attempts = 0

    def reset(self) -> None:
        """Starts over at attempt 0 (after a connection succeeded)."""
        self.attempts = 0

    def next_delay(self) -> float:
        """The delay before the next attempt, which it counts."""
        d = min(self.max_delay, self.min_delay * (2 ** min(self.attempts, 30)))
        self.attempts += 1
        return random.uniform(d / 2, d)
