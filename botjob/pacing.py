"""Keeps sends under Telegram's flood limits, so replies are paced instead of refused.

Telegram's Bots FAQ: about one message a second in a chat (short bursts are
fine), no more than 20 a minute in a group, about 30 a second overall. Token
buckets per chat and overall; a slot is reserved under a lock and waited for
outside it, so many threads can share one pacer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# (burst, messages per second): a little under each limit, since the server measures on arrival.
PRIVATE_CHAT = (3, 1 / 1.05)
GROUP_CHAT = (1, 1 / 3.1)  # 20 a minute, counted over any 60 seconds
OVERALL = (1, 28.0)  # 30 a second, counted over any second


@dataclass
class _Bucket:
    burst: float
    rate: float
    tokens: float
    stamp: float

    def reserve(self, now: float) -> float:
        """Take one token (going into debt if need be); the wait until it is really there."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= 1
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


class Pacer:
    def __init__(self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._chats: dict[int | str, _Bucket] = {}
        self._overall = self._bucket(OVERALL)

    def wait(self, chat_id: int | str) -> float:
        """Wait for a slot to send one message to ``chat_id``; returns the seconds waited."""
        with self._lock:
            now = self.clock()
            delay = max(self._chat(chat_id).reserve(now), self._overall.reserve(now))
        if delay > 0:
            self.sleep(delay)
        return delay

    def _chat(self, chat_id: int | str) -> _Bucket:
        if chat_id not in self._chats:
            # Users have positive ids; groups, supergroups and channels negative ones.
            is_group = isinstance(chat_id, int) and chat_id < 0
            self._chats[chat_id] = self._bucket(GROUP_CHAT if is_group else PRIVATE_CHAT)
        return self._chats[chat_id]

    def _bucket(self, limits: tuple[float, float]) -> _Bucket:
        burst, rate = limits
        return _Bucket(burst, rate, burst, self.clock())
