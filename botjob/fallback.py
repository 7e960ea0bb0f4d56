"""Models asked in order for one purpose (chat, hearing, reading images, drawing): the first that answers.

A model that fails for reasons of its own (not served, no credits, a refused token, not found, settings
that cannot work, a passing trouble still failing after its retries) is set aside for the rest of the run:
later questions go straight to the next model and do not pay its timeouts again. A model that refuses one
question (too long for it, an input or a file it rejects) is not set aside, and the next model gets that
question: models differ in context length, checks and the files they read, and a refusal costs nothing.
Only when no model answers does the caller see a failure: the question's own refusal if a model refused
it (the apology), else every model's reason in one line, a passing trouble if any of them was passing.
A list of one model behaves as that model alone: its errors pass through as they are.

The chats' workers share a list: its record of the run is kept under a lock, and the models are asked
outside it. Each model is retried as the job retries any call (``retrying``), inside the run's time
budget; once that is used up, no further model is asked.

A chat may ask a model of its own choosing first (/model, llm.choices): the list then holds those models
too, each once, and such a chat's order is its choice followed by the owner's order. A model is set
aside for every chat that uses it, and counted once whoever asked it; an answer counts as a fallback's
when an earlier model of that chat's order could not give it.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from .errors import BotjobError, Failure
from .run_report import ModelsUsed, ModelTally

log = logging.getLogger(__name__)

T = TypeVar("T")
Retrying = Callable[[str, Callable[[], Any]], Any]


def once(what: str, operation: Callable[[], T]) -> T:
    """No retries: a list asked outside a run (`check`, a test's warm-up)."""
    return operation()


def unlimited() -> float:
    return math.inf


class NoModelAnswered(BotjobError):
    """No model of a list could answer: each one's reason, in order, on one line."""

    def __init__(self, purpose: str, failures: list[tuple[str, BotjobError]]) -> None:
        passing = any(error.kind is Failure.TRANSIENT for _, error in failures)
        fixes = dict.fromkeys(error.hint for _, error in failures if error.hint)
        super().__init__(
            f"no {purpose} model could answer: " + "; ".join(f"{name}: {error}" for name, error in failures),
            hint="; or ".join(fixes) or None,  # type: ignore[arg-type]
            kind=Failure.TRANSIENT if passing else Failure.BOT_WIDE,  # a passing one may answer the next run
        )
        self.failures = failures


class _SetAside(Exception):
    """Another worker set the model aside while this one was retrying it (not a BotjobError: no retry)."""

    def __init__(self, error: BotjobError) -> None:
        super().__init__(str(error))
        self.error = error


class Fallback:
    """The models of one purpose, in the owner's order, and what became of each in this run.

    ``what`` names the calls in the retry log ("model", "speech", "pictures"); ``chosen`` are the models
    only a chat's choice asks (those not in ``models``), each asked first for the chats that chose it.
    """

    def __init__(self, models: Sequence[Any], *, what: str, chosen: Sequence[Any] = ()) -> None:
        if not models:
            raise ValueError("a model list needs a model")
        self.models: tuple[Any, ...] = tuple(models)
        self.chosen: tuple[Any, ...] = tuple(model for model in chosen if not any(model is m for m in self.models))
        self._every = self.models + self.chosen  # the record's order: each model once, the owner's first
        self.what = what
        self.purpose: str = getattr(self.models[0], "purpose", what)
        self._lock = threading.Lock()
        self._answered = [0] * len(self._every)
        self._instead = [0] * len(self._every)  # of those, answers an earlier model of the chat's order could not give
        self._aside: list[BotjobError | None] = [None] * len(self._every)

    @property
    def first(self) -> Any:
        return self.models[0]

    def new_run(self) -> None:
        """Every model is asked again, and counted anew: a model set aside is tried again by the next run."""
        with self._lock:
            self._answered = [0] * len(self._every)
            self._instead = [0] * len(self._every)
            self._aside = [None] * len(self._every)

    def prepare(self) -> None:
        """Get the first model still in use ready before a question needs it (see HostedModel.prepare)."""
        with self._lock:
            ready = next((model for model, aside in zip(self.models, self._aside) if aside is None), None)
        prepare = getattr(ready, "prepare", None)
        if prepare is not None:
            prepare()

    def call(self, use: Callable[[Any], T], *, retrying: Retrying = once, time_left: Callable[[], float] = unlimited,
             first: Any = None) -> T:
        """``use(model)`` with the first model that answers; raises as the module docstring says.

        ``first``: the model a chat chose, asked before the owner's order (None: the owner's order alone).
        """
        order = self._order(first)
        if len(order) == 1:  # one model: as it always was
            result = retrying(self.what, functools.partial(use, self._every[order[0]]))
            self._count(order[0], 0)
            return result
        refused: BotjobError | None = None
        failures: list[tuple[str, BotjobError]] = []
        for position, index in enumerate(order):
            model = self._every[index]
            with self._lock:
                aside = self._aside[index]
            if aside is None and position and time_left() <= 0:
                aside = BotjobError("not asked: the run's time budget is used up", kind=Failure.TRANSIENT)
            if aside is not None:
                failures.append((model.name, aside))
                continue
            try:
                result = retrying(f"{self.what} {model.name}", functools.partial(self._ask, index, use))
            except _SetAside as meanwhile:
                failures.append((model.name, meanwhile.error))
                continue
            except BotjobError as error:
                if error.kind is Failure.MESSAGE:
                    if not self._passes_on(error):
                        raise
                    refused = refused or error
                    log.info("%s: %s refused the question (%s); asking the next model", self.purpose, model.name, error)
                    continue
                self._set_aside(index, error, order)
                failures.append((model.name, error))
                continue
            self._count(index, position)
            return result
        if refused is not None:
            raise refused
        raise NoModelAnswered(self.purpose, failures)

    def used(self) -> ModelsUsed | None:
        """What became of each model in this run; None when none was asked."""
        with self._lock:
            if not any(self._answered) and not any(self._aside):
                return None
            return ModelsUsed(self.purpose, tuple(
                ModelTally(model.name, answered, str(aside or ""), (aside.hint or "") if aside else "", instead)
                for model, answered, aside, instead in zip(self._every, self._answered, self._aside, self._instead)
            ))

    def _order(self, first: Any) -> tuple[int, ...]:
        """The models to ask, by their place in the record: the chosen one first, then the owner's order."""
        owners = range(len(self.models))
        if first is None:
            return tuple(owners)
        chosen = next(index for index, model in enumerate(self._every) if model is first)
        return (chosen, *(index for index in owners if index != chosen))

    def _passes_on(self, refusal: BotjobError) -> bool:
        """Whether the next model gets a question this one refused."""
        return True

    def _ask(self, index: int, use: Callable[[Any], T]) -> T:
        with self._lock:
            aside = self._aside[index]
        if aside is not None:
            raise _SetAside(aside)
        return use(self._every[index])

    def _set_aside(self, index: int, error: BotjobError, order: tuple[int, ...]) -> None:
        with self._lock:
            if self._aside[index] is not None:  # another worker found it out first
                return
            self._aside[index] = error
            later = order[order.index(index) + 1:]
            following = next((self._every[i].name for i in later if self._aside[i] is None), "")
        log.warning("%s: %s is set aside for the rest of this run (%s)%s", self.purpose, self._every[index].name, error,
                    f"; asking {following} instead" if following else "; no other model is left")

    def _count(self, index: int, position: int) -> None:
        """One answer by the model at ``index`` of the record, the ``position``-th model of the chat's order."""
        with self._lock:
            self._answered[index] += 1
            if position:
                self._instead[index] += 1
        if position:
            log.info("%s: answered by %s, model %d of the list", self.purpose, self._every[index].name, position + 1)


class ChatModels(Fallback):
    """llm.model and llm.fallback (and the llm.choices models), or the vision models: chat messages in, one text out."""

    def reply(self, messages: list[dict[str, Any]], *, retrying: Retrying = once, time_left: Callable[[], float] = unlimited,
              first: Any = None) -> str:
        return self.call(lambda model: model.reply(messages), retrying=retrying, time_left=time_left, first=first)


class SpeechModels(Fallback):
    def transcribe(self, audio: bytes, *, mime_type: str, seconds: int, retrying: Retrying = once,
                   time_left: Callable[[], float] = unlimited) -> str:
        return self.call(lambda model: model.transcribe(audio, mime_type=mime_type, seconds=seconds),
                         retrying=retrying, time_left=time_left)


class PictureModels(Fallback):
    def draw(self, prompt: str, *, retrying: Retrying = once, time_left: Callable[[], float] = unlimited) -> bytes:
        return self.call(lambda model: model.draw(prompt), retrying=retrying, time_left=time_left)

    def _passes_on(self, refusal: BotjobError) -> bool:
        # A picture drawn, and paid for, that cannot be read (status 200, media.PictureModel.draw) is not
        # drawn again by the next model: that would pay twice for one /image.
        return getattr(refusal, "status", None) != 200
