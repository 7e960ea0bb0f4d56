"""GitHub Actions plumbing: annotations, step outputs and the job summary. Standard library only.

Everything written here may be public (the logs of a public repository are),
so callers pass counts, ids and timings, never what people wrote.
"""

from __future__ import annotations

from collections.abc import Mapping


def in_actions(env: Mapping[str, str]) -> bool:
    return env.get("GITHUB_ACTIONS") == "true"


def annotation(level: str, message: str) -> str:
    """A workflow command line such as ``::error::...``; newlines and % are escaped as GitHub requires."""
    escaped = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return f"::{level}::{escaped}"


def set_output(env: Mapping[str, str], name: str, value: str) -> None:
    """A step output (``steps.<id>.outputs.<name>``), when running as an Actions step."""
    path = env.get("GITHUB_OUTPUT")
    if path:
        with open(path, "a", encoding="utf-8") as output:
            output.write(f"{name}={value}\n")


def append_summary(env: Mapping[str, str], markdown: str) -> None:
    """Add markdown to the run's page, when running as an Actions step."""
    path = env.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as summary:
            summary.write(markdown.rstrip("\n") + "\n\n")
