"""What a command writes for people: stdout, stderr and, in GitHub Actions, annotations, step
outputs and the job summary. Standard library only.

Everything written here may be public (the logs of a public repository are),
so callers pass counts, ids and timings, never what people wrote; and every
text passes one redaction on its way out (``Output``), however a secret got
into it (a token pasted into a setting ends up in its error message).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path

from .redaction import Redactor


def in_actions(env: Mapping[str, str]) -> bool:
    return env.get("GITHUB_ACTIONS") == "true"


def repository_is_private(env: Mapping[str, str]) -> bool | None:
    """What the event payload of a run (the file GITHUB_EVENT_PATH names) says of the repository:
    private (True) or public (False); None when there is no payload to read, or it does not say."""
    path = env.get("GITHUB_EVENT_PATH")
    if not path:
        return None
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    repository = event.get("repository") if isinstance(event, dict) else None
    private = repository.get("private") if isinstance(repository, dict) else None
    return private if isinstance(private, bool) else None


def annotation(level: str, message: str) -> str:
    """A workflow command line such as ``::error::...``; newlines and % are escaped as GitHub requires."""
    escaped = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return f"::{level}::{escaped}"


class Output:
    """The one way out for a command's words: each text is redacted, then printed or written.

    ``cli.main`` makes one per command, with the secrets of its environment;
    ``redactor.add`` takes the keys the settings file brings.
    """

    def __init__(self, env: Mapping[str, str], redactor: Redactor | None = None) -> None:
        self.env = env
        self.redactor = redactor if redactor is not None else Redactor()

    def print(self, text: str = "", *, error: bool = False, end: str = "\n") -> None:
        """A line on stdout, or on stderr with ``error``."""
        print(self.redactor(text), end=end, file=sys.stderr if error else sys.stdout)

    def annotate(self, level: str, message: str) -> None:
        """An annotation on the run's page (``error``, ``warning``), when running as an Actions step."""
        if in_actions(self.env):  # redacted before escaping: an escaped "%" would hide a quoted secret
            self.print(annotation(level, self.redactor(message)))

    def set_output(self, name: str, value: str) -> None:
        """A step output (``steps.<id>.outputs.<name>``), when running as an Actions step."""
        self._append("GITHUB_OUTPUT", f"{name}={self.redactor(value)}\n")

    def append_summary(self, markdown: str) -> None:
        """Add markdown to the run's page, when running as an Actions step."""
        self._append("GITHUB_STEP_SUMMARY", self.redactor(markdown).rstrip("\n") + "\n\n")

    def _append(self, variable: str, text: str) -> None:
        path = self.env.get(variable)
        if path:
            with open(path, "a", encoding="utf-8") as file:
                file.write(text)
