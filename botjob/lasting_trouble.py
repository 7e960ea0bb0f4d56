"""A passing trouble followed across runs (state/trouble.json), so that one that lasts reaches the owner.

A passing trouble exits 0, so one bad minute alarms nobody; one that keeps
every run from answering anyone for ``run.alert_after`` fails the run, so
that GitHub e-mails the owner. A run that a fallback model (llm.fallback)
carried got through: it ends the trouble, and says who answered instead.
"""

from __future__ import annotations

from .errors import Failure, LastingTrouble
from .run_report import RunReport
from .state import StateStore, Trouble


def follow_trouble(store: StateStore, report: RunReport, *, now: float, alert_after: float) -> None:
    """Record how long the trouble of this run has lasted; turn the report into a failure past ``alert_after``."""
    error = report.error
    if error is not None and error.kind is not Failure.TRANSIENT:
        return  # the run fails already
    if error is None or report.answered + report.failed + report.skipped:
        store.save_trouble(None)  # a run that got through ends it (a damaged record too)
        return
    earlier = store.load_trouble(now=now)
    trouble = Trouble(earlier.since, earlier.runs + 1) if earlier else Trouble(now)
    store.save_trouble(trouble)
    lasted = now - trouble.since
    if lasted >= alert_after:
        report.error = LastingTrouble(error, lasted, trouble.runs)
        report.stopped = "a passing trouble lasted too long: needs the owner"
