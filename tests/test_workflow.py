"""The shape of the scheduled workflow: what an owner relies on without reading it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from botjob.config import RunSettings

WORKFLOW = Path(__file__).resolve().parent.parent / ".github" / "workflows" / "bot.yml"


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


@pytest.fixture(scope="module")
def job(workflow: dict) -> dict:
    (only,) = workflow["jobs"].values()
    return only


def step(job: dict, name: str) -> dict:
    return next(s for s in job["steps"] if s.get("name") == name)


def test_runs_on_a_schedule_and_by_hand_with_dry_run_and_a_cap(workflow: dict) -> None:
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert triggers["schedule"][0]["cron"]
    inputs = triggers["workflow_dispatch"]["inputs"]
    assert inputs["dry_run"]["type"] == "boolean"
    # Numbers, so the Run workflow form refuses "ten" before a run starts.
    assert {name: (inputs[name]["type"], inputs[name]["default"]) for name in ("max_updates", "linger")} == {
        "max_updates": ("number", 0), "linger": ("number", 0),
    }


def test_one_batch_at_a_time_and_never_cancelled(workflow: dict) -> None:
    assert workflow["concurrency"]["cancel-in-progress"] is False
    # GitHub keeps one waiting run unless asked for more: a newer run would cancel a manual run
    # that waits behind a lingering one.
    assert workflow["concurrency"]["queue"] == "max"


def test_only_the_permission_to_push_state(workflow: dict, job: dict) -> None:
    assert workflow["permissions"] == {}
    assert job["permissions"] == {"contents": "write"}


def test_actions_are_pinned_to_full_commit_shas(job: dict) -> None:
    uses = [s["uses"] for s in job["steps"] if "uses" in s]
    assert uses and all(re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", u) for u in uses)


def test_the_checkout_keeps_no_credentials(job: dict) -> None:
    checkout = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["persist-credentials"] is False


def test_a_run_that_waited_starts_from_the_branch_tip_not_the_queued_commit(job: dict) -> None:
    checkout = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["ref"] == "${{ github.ref }}"


def test_each_step_gets_only_the_secrets_it_needs(job: dict) -> None:
    def secrets_of(s: dict) -> set[str]:
        return set(re.findall(r"(secrets\.\w+|github\.token)", str(s.get("env", {})) + s.get("run", "")))

    assert secrets_of(step(job, "Anything waiting?")) == {"secrets.TELEGRAM_BOT_TOKEN"}
    assert secrets_of(step(job, "Answer")) == {
        "secrets.TELEGRAM_BOT_TOKEN", "secrets.HF_TOKEN", "secrets.BOTJOB_LLM_URL", "secrets.BOTJOB_STATE_KEY"
    }
    assert secrets_of(step(job, "Save state")) == {"github.token"}
    for other in job["steps"]:
        if other.get("name") not in ("Anything waiting?", "Answer", "Save state"):
            assert secrets_of(other) == set()


def test_an_idle_run_installs_nothing(job: dict) -> None:
    peek = step(job, "Anything waiting?")
    assert peek["run"].startswith("python3 -S -m botjob peek")
    gated = [s for s in job["steps"] if str(s.get("if", "")).startswith("steps.peek.outputs.waiting == 'true'")]
    assert {s.get("name") or s["uses"].split("@")[0] for s in gated} == {"actions/setup-python", "Install", "Answer"}


def test_state_is_saved_even_after_a_failure_or_timeout(job: dict) -> None:
    save = step(job, "Save state")
    assert save["if"] == "always()" and save["run"].startswith("python3 -S -m botjob save-state")
    assert job["steps"][-1] is save


def test_the_steps_on_the_bare_python_load_no_installed_package(job: dict) -> None:
    """"Save state" runs on the python3 that "Install" filled with unpinned packages: a .pth file among
    them would run at start-up, beside the push token. -S leaves site-packages out (tests/test_cli.py
    runs both commands so)."""
    for name in ("Anything waiting?", "Save state"):
        assert step(job, name)["run"].split()[:4] == ["python3", "-S", "-m", "botjob"]


def test_time_limits_leave_room_to_save(job: dict) -> None:
    answer = step(job, "Answer")
    assert answer["timeout-minutes"] < job["timeout-minutes"]
    assert RunSettings().time_budget < answer["timeout-minutes"] * 60


def test_workflow_inputs_reach_the_shell_only_through_the_environment(job: dict) -> None:
    for s in job["steps"]:
        assert "${{" not in s.get("run", ""), f"template expansion inside a script: {s.get('name')}"


def test_a_lingering_run_by_hand_answers_even_when_nothing_waits_yet(job: dict) -> None:
    # On a schedule there are no inputs: null > 0 is false in GitHub's expressions, as is a linger of 0.
    gates = {s.get("name") or s["uses"].split("@")[0]: s["if"] for s in job["steps"] if "peek" in str(s.get("if", ""))}
    assert gates == dict.fromkeys(("actions/setup-python", "Install", "Answer"), "steps.peek.outputs.waiting == 'true' || inputs.linger > 0")


@pytest.mark.parametrize(
    ("inputs", "arguments"),
    [
        ({"DRY_RUN": "", "MAX_UPDATES": "", "LINGER": ""}, []),  # a scheduled run: no inputs at all
        ({"DRY_RUN": "false", "MAX_UPDATES": "0", "LINGER": "0"}, []),  # by hand, the form as it comes
        ({"DRY_RUN": "true", "MAX_UPDATES": "5", "LINGER": "300"}, ["--dry-run", "--max-updates", "5", "--linger", "300"]),
    ],
)
def test_the_answer_step_passes_on_only_what_the_owner_asked_for(job: dict, tmp_path: Path, inputs: dict, arguments: list) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    python = bin_dir / "python"
    python.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')  # stands in for the bot: prints what it was given
    python.chmod(0o755)

    # GitHub runs a bash step as `bash --noprofile --norc -eo pipefail {0}`.
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step(job, "Answer")["run"]],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", **inputs}, capture_output=True, text=True, timeout=30,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["-m", "botjob", "run", *arguments]


# ---------------------------------------------------------------------------- the set-up doctor, in the browser

CHECK = WORKFLOW.parent / "check.yml"


@pytest.fixture(scope="module")
def check_job() -> dict:
    (only,) = yaml.safe_load(CHECK.read_text())["jobs"].values()
    return only


def test_the_doctor_runs_by_hand_only_and_can_delete_a_webhook(check_job: dict) -> None:
    document = yaml.safe_load(CHECK.read_text())
    assert set(document[True]) == {"workflow_dispatch"}
    assert document[True]["workflow_dispatch"]["inputs"]["delete_webhook"]["type"] == "boolean"
    run = step(check_job, "Check the set-up")
    assert "python -m botjob check" in run["run"] and "--fix" in run["run"]
    assert run["env"]["DELETE_WEBHOOK"] == "${{ inputs.delete_webhook }}"


def test_the_doctor_can_read_the_repository_only_and_gets_the_bots_secrets_in_its_check_step(check_job: dict) -> None:
    assert yaml.safe_load(CHECK.read_text())["permissions"] == {}
    assert check_job["permissions"] == {"contents": "read"}
    checked = step(check_job, "Check the set-up")
    assert {v for v in checked["env"].values() if "secrets." in v} == {
        "${{ secrets.TELEGRAM_BOT_TOKEN }}", "${{ secrets.HF_TOKEN }}", "${{ secrets.BOTJOB_LLM_URL }}", "${{ secrets.BOTJOB_STATE_KEY }}",
    }
    for other in check_job["steps"]:
        if other is not checked:
            assert "secrets." not in str(other)
    for s in check_job["steps"]:
        assert "${{" not in s.get("run", "")


# ---------------------------------------------------------------------------- CI, for the owner's fork


def test_ci_runs_the_same_script_as_anywhere_else() -> None:
    # What the README calls "what CI runs": one script, so a fork's CI lints the workflows too.
    (ci_job,) = yaml.safe_load((WORKFLOW.parent / "ci.yml").read_text())["jobs"].values()
    assert [s["run"] for s in ci_job["steps"] if "run" in s] == ["bash .ci/run"]
