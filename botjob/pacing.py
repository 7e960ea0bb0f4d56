"""Keeps sends under Telegram's flood limits, so replies are paced instead of refused.

Telegram's Bots FAQ: about one message a second in a chat (short bursts are
fine), no more than 20 a minute in a group, about 30 a second overall. A
private chat gets a token bucket; a group and the whole bot get sliding
windows, counted as Telegram counts them, so a short burst goes out at once
when the window has room. A slot is reserved under a lock and waited for
outside it, so many threads share one pacer; callers wait outside any other
lock too.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

# A little under each limit, since the server measures on arrival.
PRIVATE_CHAT = (3, 1 / 1.05)  # a bucket: burst, messages per second
GROUP_CHAT = (19, 61.0)  # a window: at most 19 messages in any 61 seconds
OVERALL = (28, 1.05)  # a window: at most 28 messages in any 1.05 seconds


@dataclass
class _Bucket:
    burst: float
    rate: float
    tokens: float
    stamp: float

    def reserve(self, now: float) -> float:
        """Take one token (going into debt if need be); the time it is really there."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= 1
        return now if self.tokens >= 0 else now - self.tokens / self.rate


@dataclass
class _Window:
    limit: int
    seconds: float
    sends: deque[float] = field(default_factory=deque)  # the last `limit` reserved send times, in order

    def reserve(self, now: float) -> float:
        """The earliest time at or after ``now`` that keeps any window under the limit, reserved."""
        at = now if len(self.sends) < self.limit else max(now, self.sends[0] + self.seconds)
        self.sends.append(at)
        if len(self.sends) > self.limit:
            self.sends.popleft()
        return at


class Pacer:
    def __init__(self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._chats: dict[int | str, _Bucket | _Window] = {}
        self._overall = _Window(*OVERALL)

    def wait(self, chat_id: int | str) -> float:
        """Wait for a slot to send one message to ``chat_id``; returns the seconds waited.

        The chat's own turn first, then the bot's overall one: the overall
        window only ever holds sends that are due, so one chat's long wait
        never pushes another chat's send back.
        """
        waited = self._wait_for(lambda now: self._chat(chat_id, now).reserve(now))
        return waited + self._wait_for(self._overall.reserve)

    def _wait_for(self, reserve: Callable[[float], float]) -> float:
        with self._lock:
            now = self.clock()
            delay = reserve(now) - now
        if delay > 0:
            self.sleep(delay)
        return max(0.0, delay)

    def _chat(self, chat_id: int | str, now: float) -> _Bucket | _Window:
        if chat_id not in self._chats:
            # Users have positive ids; groups, supergroups and channels negative ones.
            is_group = isinstance(chat_id, int) and chat_id < 0
            self._chats[chat_id] = _Window(*GROUP_CHAT) if is_group else _Bucket(*PRIVATE_CHAT, PRIVATE_CHAT[0], now)
        return self._chats[chat_id]
