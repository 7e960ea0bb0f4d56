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
    """The answer job: the bot's secrets, installed packages, a token that can only read."""
    assert set(workflow["jobs"]) == {"answer", "save"}
    return workflow["jobs"]["answer"]


@pytest.fixture(scope="module")
def save_job(workflow: dict) -> dict:
    """The save job: a fresh runner, the only token that can push, none of the bot's secrets."""
    return workflow["jobs"]["save"]


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


def test_the_job_that_answers_can_only_read_and_only_the_job_that_saves_can_push(workflow: dict, job: dict, save_job: dict) -> None:
    """Steps of one job share a runner: code that ran while answering (a package from PyPI) could leave a
    git hook or another python3 for a later step. The token that can push lives in a job of its own."""
    assert workflow["permissions"] == {}
    assert job["permissions"] == {"contents": "read", "actions": "read"}
    assert save_job["permissions"] == {"contents": "write"}


def test_actions_are_pinned_to_full_commit_shas(job: dict, save_job: dict) -> None:
    uses = [s["uses"] for j in (job, save_job) for s in j["steps"] if "uses" in s]
    assert uses and all(re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", u) for u in uses)
    assert len(uses) == 5  # checkout and setup-python, upload-artifact; checkout and download-artifact


def test_the_checkout_keeps_no_credentials(job: dict, save_job: dict) -> None:
    for j in (job, save_job):
        checkout = next(s for s in j["steps"] if s.get("uses", "").startswith("actions/checkout@"))
        assert checkout["with"]["persist-credentials"] is False


def test_a_run_that_waited_starts_from_the_branch_tip_not_the_queued_commit(job: dict) -> None:
    checkout = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["ref"] == "${{ github.ref }}"


def test_the_save_job_commits_onto_the_commit_the_answer_job_started_from(job: dict, save_job: dict) -> None:
    # Told right after the checkout, before anything the answer job installs can run; save-state's rebase
    # then merges by meaning what the branch gained meanwhile (tests/test_gitsync.py tells that story).
    steps = job["steps"]
    start = next(i for i, s in enumerate(steps) if s.get("id") == "start")
    assert steps[start - 1]["uses"].startswith("actions/checkout@") and "git rev-parse HEAD" in steps[start]["run"]
    assert job["outputs"]["commit"] == "${{ steps.start.outputs.commit }}"
    checkout = next(s for s in save_job["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["ref"] == "${{ needs.answer.outputs.commit }}"


def test_each_step_gets_only_the_secrets_it_needs(job: dict, save_job: dict) -> None:
    def secrets_of(s: dict) -> set[str]:
        return set(re.findall(r"(secrets\.\w+|github\.token)", str(s.get("env", {})) + s.get("run", "")))

    assert secrets_of(step(job, "Anything waiting?")) == {"secrets.TELEGRAM_BOT_TOKEN"}
    assert secrets_of(step(job, "Answer")) == {
        "secrets.TELEGRAM_BOT_TOKEN", "secrets.HF_TOKEN", "secrets.BOTJOB_LLM_URL", "secrets.BOTJOB_STATE_KEY"
    }
    assert secrets_of(step(job, "Measure the schedule")) == {"github.token"}
    assert secrets_of(step(save_job, "Save state")) == {"github.token"}
    for other in job["steps"] + save_job["steps"]:
        if other.get("name") not in ("Anything waiting?", "Measure the schedule", "Answer", "Save state"):
            assert secrets_of(other) == set()


def test_the_token_that_can_push_never_meets_the_messages(workflow: dict, job: dict, save_job: dict) -> None:
    """In the answer job only the measuring step holds a GitHub token, and there it can only read; the save
    job's token may push, and that job holds none of the bot's secrets. However a step names them."""
    def names_a_github_token(s: dict) -> bool:
        return bool(re.search(r"github\.token|secrets\.GITHUB_TOKEN|GITHUB_TOKEN|GH_TOKEN", str(s.get("env", {})) + str(s.get("with", {})) + s.get("run", "")))

    def reads_messages(s: dict) -> bool:
        return "TELEGRAM_BOT_TOKEN" in str(s.get("env", {}))

    assert {s.get("name") for s in job["steps"] if names_a_github_token(s)} == {"Measure the schedule"}
    assert "write" not in job["permissions"].values()
    assert {s.get("name") for s in job["steps"] if reads_messages(s)} == {"Anything waiting?", "Answer"}
    assert {s.get("name") for s in save_job["steps"] if names_a_github_token(s)} == {"Save state"}
    assert "secrets." not in str(save_job)
    assert all("env" not in j for j in (job, save_job)) and "env" not in workflow  # no token for every step at once


def test_the_schedule_is_measured_before_answering_only_when_there_is_work(job: dict) -> None:
    names = [s.get("name") or s["uses"].split("@")[0] for s in job["steps"]]
    measure, answer = step(job, "Measure the schedule"), step(job, "Answer")
    assert names.index("Measure the schedule") < names.index("Answer")
    assert measure["if"] == answer["if"]
    # Standard library only, before anything is installed; a failure never keeps the run from answering.
    assert measure["run"].split()[:5] == ["python3", "-S", "-m", "botjob", "measure-schedule"]
    assert names.index("Measure the schedule") < names.index("Install")
    assert measure["continue-on-error"] is True and measure["timeout-minutes"] <= 2


def test_an_idle_run_installs_nothing(job: dict) -> None:
    peek = step(job, "Anything waiting?")
    assert peek["run"].startswith("python3 -S -m botjob peek")
    gated = [s for s in job["steps"] if str(s.get("if", "")).startswith("steps.peek.outputs.waiting == 'true'")]
    assert {s.get("name") or s["uses"].split("@")[0] for s in gated} == {
        "Measure the schedule", "actions/setup-python", "Install", "Answer",
    }


def test_state_is_saved_even_after_a_failure_or_timeout(job: dict, save_job: dict) -> None:
    changes, hand_on = step(job, "Anything to save?"), step(job, "Hand on state/")
    assert job["steps"][-2:] == [changes, hand_on]
    assert changes["if"] == "always()" and hand_on["if"].startswith("always() && ")
    assert save_job["needs"] == "answer" and save_job["if"].startswith("always() && ")
    save = step(save_job, "Save state")
    assert save["run"].startswith("python3 -S -m botjob save-state --from ") and save_job["steps"][-1] is save


def test_the_save_job_runs_only_when_the_answer_job_says_there_is_something_to_save(job: dict, save_job: dict) -> None:
    """An idle run ends after the answer job, as before: a second job would cost a minute of its own."""
    changes = step(job, "Anything to save?")
    assert changes["id"] == "changes" and changes["run"] == "python3 -S -m botjob save-state --check"
    assert "env" not in changes  # reads only: no token
    assert job["outputs"]["save"] == "${{ steps.changes.outputs.save }}"
    assert step(job, "Hand on state/")["if"] == "always() && steps.changes.outputs.save == 'true'"
    assert save_job["if"] == "always() && needs.answer.outputs.save == 'true'"


def test_the_answer_job_hands_on_only_state_and_the_save_job_keeps_it_apart(job: dict, save_job: dict) -> None:
    upload = step(job, "Hand on state/")
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert upload["with"]["path"] == "state/" and upload["with"]["include-hidden-files"] is False
    assert upload["with"]["retention-days"] == 1  # what the commit shows anyway, for a day at most
    (download,) = [s for s in save_job["steps"] if s.get("uses", "").startswith("actions/download-artifact@")]
    assert download["with"] == {"name": upload["with"]["name"], "path": "${{ runner.temp }}/answered-state"}
    # Outside the checkout (never over state/ or the code), and nothing in it runs: save-state reads it as data.
    assert step(save_job, "Save state")["run"].split()[-2:] == ["--from", '"$RUNNER_TEMP/answered-state"']
    names = [s.get("name") or s["uses"].split("@")[0] for s in save_job["steps"]]
    assert names == ["actions/checkout", "actions/download-artifact", "Save state"]  # nothing installed, nothing else run


def test_the_steps_on_the_bare_python_load_no_installed_package(job: dict, save_job: dict) -> None:
    """The steps before "Install" hold tokens too, and -S leaves any site-packages out of them (a .pth file
    there runs at start-up); so does "Save state", on its fresh runner (tests/test_cli.py runs them so)."""
    for name in ("Anything waiting?", "Measure the schedule", "Anything to save?"):
        assert step(job, name)["run"].split()[:4] == ["python3", "-S", "-m", "botjob"]
    assert step(save_job, "Save state")["run"].split()[:4] == ["python3", "-S", "-m", "botjob"]


def test_time_limits_leave_room_to_save(job: dict) -> None:
    answer = step(job, "Answer")
    assert answer["timeout-minutes"] < job["timeout-minutes"]
    assert RunSettings().time_budget < answer["timeout-minutes"] * 60


def test_workflow_inputs_reach_the_shell_only_through_the_environment(job: dict, save_job: dict) -> None:
    for s in job["steps"] + save_job["steps"]:
        assert "${{" not in s.get("run", ""), f"template expansion inside a script: {s.get('name')}"


def test_a_lingering_run_by_hand_answers_even_when_nothing_waits_yet(job: dict) -> None:
    # On a schedule there are no inputs: null > 0 is false in GitHub's expressions, as is a linger of 0.
    gates = {s.get("name") or s["uses"].split("@")[0]: s["if"] for s in job["steps"] if "peek" in str(s.get("if", ""))}
    assert gates == dict.fromkeys(
        ("Measure the schedule", "actions/setup-python", "Install", "Answer"), "steps.peek.outputs.waiting == 'true' || inputs.linger > 0"
    )


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


def test_the_install_step_puts_the_requirements_into_the_python_that_answers_with_uv(job: dict, tmp_path: Path) -> None:
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    for program in ("python", "uv"):  # each stands in for the real one: writes down what it was asked
        (bin_dir / program).write_text(f'#!/bin/sh\necho {program} "$@" >> "{calls}"\n')
        (bin_dir / program).chmod(0o755)

    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step(job, "Install")["run"]],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"}, capture_output=True, text=True, timeout=30,
    )

    assert done.returncode == 0, done.stderr
    get_uv, install = (line.split() for line in calls.read_text().splitlines())
    assert get_uv[:4] == ["python", "-m", "pip", "install"]
    # Patch releases only: a new minor version of uv may change what its commands do.
    assert re.fullmatch(r"uv>=[\d.]+,<[\d.]+", get_uv[-1])
    # --system: into setup-python's Python (no virtual environment), the `python` that "Answer" runs.
    assert install == ["uv", "pip", "install", "--system", "-r", "requirements.txt"]


def test_what_answers_comes_from_pypi_in_this_run_never_from_a_cache(job: dict, save_job: dict) -> None:
    """What "Install" puts in place runs beside the bot's tokens; what the save job runs holds the token that
    pushes. Any workflow of the repository can write the Actions cache, and a restored environment would keep its versions, security
    fixes missed included, for as long as requirements.txt stays the same."""
    for s in job["steps"] + save_job["steps"]:
        assert not s.get("uses", "").startswith("actions/cache"), s
        assert not [key for key in s.get("with", {}) if "cache" in key], s


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


def test_the_doctor_installs_as_the_bot_does(check_job: dict, job: dict) -> None:
    # What the doctor finds installed is what the bot will run on.
    def setup_python(steps: list[dict]) -> dict:
        (only,) = [s for s in steps if s.get("uses", "").startswith("actions/setup-python@")]
        return {key: value for key, value in only.items() if key != "if"}

    assert setup_python(check_job["steps"]) == setup_python(job["steps"])
    assert step(check_job, "Install")["run"] == step(job, "Install")["run"]


# ---------------------------------------------------------------------------- CI, for the owner's fork


def test_ci_runs_the_same_script_as_anywhere_else() -> None:
    # What the README calls "what CI runs": one script, so a fork's CI lints the workflows too.
    (ci_job,) = yaml.safe_load((WORKFLOW.parent / "ci.yml").read_text())["jobs"].values()
    assert [s["run"] for s in ci_job["steps"] if "run" in s] == ["bash .ci/run"]
