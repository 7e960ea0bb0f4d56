"""Sending replies and recording them: each part of a reply and its record are one step.

The ledger's lock covers one sendMessage call and the checkpoint write that
follows it, nothing else: pacing waits, 429 pauses and retry backoffs happen
outside it, so one chat's waits never hold up another's replies. At most one
part can be sent and not yet recorded when the process dies, so a crash
repeats at most one reply. A reply cut between its parts (a crash, or a
passing trouble that outlasted the retries) is recorded as sent in part: a
later run tells the chat it was cut short instead of sending it again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

from .conversation import Work
from .errors import BotjobError, Failure, TelegramError
from .formatting import Formatted, split
from .retrying import retry
from .state import Checkpoint, StateStore

log = logging.getLogger(__name__)


class Progress(Protocol):
    """What the ledger reports to: the run's report, for the offset it reached."""

    offset_after: int


class Ledger:
    """The checkpoint of everything fetched and not finished yet; finishing an update and saving it is one step.

    ``lock`` is the sending lock: held around one sendMessage call and its
    record, so sends and records alternate. The ledger's own state has a
    lock of its own, so taking in a new page never waits behind a send.
    """

    def __init__(self, store: StateStore, checkpoint: Checkpoint, progress: Progress) -> None:
        self.store = store
        self.checkpoint = checkpoint
        self.progress = progress
        self.lock = threading.RLock()
        self._state = threading.RLock()
        self.waiting: set[int] = set()  # fetched, not finished
        self.fetched_up_to = 0

    def restart(self, first_id: int, *, save: bool) -> None:
        """Telegram's update ids started again below the stored offset: forget the old sequence."""
        with self._state:
            self.waiting.clear()
            self.fetched_up_to = 0
            if save:
                self._save(Checkpoint(first_id))
            else:
                self.checkpoint = Checkpoint(first_id)

    def take_in(self, ids: list[int]) -> list[int]:
        """The ids of a fetched page that are new and not finished yet (one finished earlier is passed over)."""
        with self._state:
            new = sorted(i for i in ids if i > self.fetched_up_to and not self.checkpoint.is_finished(i))
            self.fetched_up_to = max(self.fetched_up_to, *ids)
            self.waiting.update(new)
            if not self.waiting and self.checkpoint.offset <= self.fetched_up_to:
                self._save(self.checkpoint.finish(self.fetched_up_to, still_waiting=(), fetched_up_to=self.fetched_up_to))
            return new

    def finish(self, work: Work) -> None:
        with self._state:
            waiting = self.waiting - set(work.update_ids)
            checkpoint = self.checkpoint
            for update_id in work.update_ids:
                checkpoint = checkpoint.finish(update_id, still_waiting=waiting, fetched_up_to=self.fetched_up_to)
            self._save(checkpoint)
            self.waiting = waiting  # only once saved: a failed save must not let the offset pass this work

    def sent_in_part(self, work: Work) -> None:
        with self._state:
            self._save(self.checkpoint.sent_in_part(work.update_ids))

    def _save(self, checkpoint: Checkpoint) -> None:
        self.store.save(checkpoint)
        self.checkpoint = checkpoint
        self.progress.offset_after = checkpoint.offset


class Bot(Protocol):
    def send_message(
        self, chat_id: int, text: str, *, reply_to_message_id: int | None = None, entities: list[dict[str, object]] | None = None
    ) -> object: ...

    def send_photo(self, chat_id: int, photo: bytes, *, caption: str = "", reply_to_message_id: int | None = None) -> object: ...


class Pacing(Protocol):
    def wait(self, chat_id: int) -> float: ...


class Delivery:
    """Sends a work's reply in as many parts as it takes, paced, and records it part by part.

    ``retries`` and ``time_left`` follow the run's settings; ``moved(chat)``
    says where a chat lives now and ``on_moved(old, new)`` hears of a group
    that became a supergroup.
    """

    def __init__(
        self,
        bot: Bot,
        pacer: Pacing,
        ledger: Ledger,
        *,
        retries: int,
        time_left: Callable[[], float],
        sleep: Callable[[float], None],
        moved: Callable[[int], int],
        on_moved: Callable[[int, int], None],
    ) -> None:
        self.bot = bot
        self.pacer = pacer
        self.ledger = ledger
        self.retries = retries
        self.time_left = time_left
        self.sleep = sleep
        self.moved = moved
        self.on_moved = on_moved

    def deliver(self, work: Work, message: Formatted) -> bool:
        """Send the reply and record the work finished; False when this chat cannot receive it (finished all the same)."""
        return self._deliver(work, [(part, None) for part in split(message)])

    def deliver_photo(self, work: Work, png: bytes, caption: str) -> bool:
        """Send a picture and record the work finished, as one step; False when the chat cannot receive it."""
        return self._deliver(work, [(Formatted(caption), png)])

    def _deliver(self, work: Work, parts: list[tuple[Formatted, bytes | None]]) -> bool:
        if not parts:  # nothing to say (an owner's empty text): finished all the same
            self.ledger.finish(work)
        for number, (part, photo) in enumerate(parts, start=1):
            record = self.ledger.finish if number == len(parts) else self.ledger.sent_in_part
            try:
                self._send(work, part, record=record, photo=photo)
            except BotjobError as error:
                if error.kind is not Failure.MESSAGE:
                    raise  # passing or the owner's: unfinished, for a later run
                log.warning("update %s: reply not delivered (%s)", work.ids, error)
                self.ledger.finish(work)
                return False
        return True

    def _send(self, work: Work, part: Formatted, *, record: Callable[[Work], None], photo: bytes | None = None) -> None:
        """One part, retried as any call is; each attempt waits for its turn with no lock held, then
        sends the part and records it under the lock."""
        entities = list(part.entities)

        def attempt() -> None:
            nonlocal entities
            while True:
                chat_id = self.moved(work.chat_id)
                # In a supergroup that was a group the question has another message id: no thread.
                reply_to = work.reply_to if chat_id == work.chat_id else None
                self.pacer.wait(chat_id)
                try:
                    with self.ledger.lock:
                        if photo is not None:
                            self.bot.send_photo(chat_id, photo, caption=part.text, reply_to_message_id=reply_to)
                        else:
                            self.bot.send_message(chat_id, part.text, reply_to_message_id=reply_to, entities=entities or None)
                        record(work)
                    return
                except TelegramError as error:
                    if error.migrate_to_chat_id is not None and chat_id == work.chat_id:
                        self.on_moved(work.chat_id, error.migrate_to_chat_id)
                        continue
                    if entities and error.error_code == 400 and "entit" in error.description.lower():
                        # Formatting Telegram refuses: the words matter more than the formatting.
                        log.info("update %s: formatting refused (%s), sent as plain text", work.ids, error.description)
                        entities = []
                        continue
                    raise

        retry(attempt, what="sendPhoto" if photo is not None else "sendMessage", retries=self.retries,
              time_left=self.time_left, sleep=self.sleep)
