"""/persona, told as stories against the sandbox over real HTTP: a chat's own system prompt.

People set, show and reset a chat's persona; in groups only administrators may change it;
it follows a group that became a supergroup; it is kept encrypted under keyed names, and
never reaches a log, a summary or state/ readably.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from botjob import memory as memory_module
from botjob import wiring
from botjob.config import ChatSettings, Config
from botjob.memory import MEMORY_NAMES, keyed_name
from botjob.pacing import Pacer
from botjob.personas import PERSONA_LIMIT, PERSONA_NAMES, ChatPersonas
from botjob.sandbox import TelegramSandbox
from botjob.state_handover import RefusedState, take_state
from botjob.state_merge import merge_state_file
from botjob.wiring import build_job
from conftest import message_id_of, stored_offset

REPO = Path(__file__).resolve().parent.parent
STATE_KEY = Fernet.generate_key().decode()  # a ready Fernet key: no slow key stretching in the tests
ALICE, BOB, FRANK, GRACE = 1001, 1002, 1006, 1007
GROUP = -100_777
DEFAULT = Config().llm.system_prompt
REPLY = Config().reply
PIRATE = "You are a pirate captain. Answer in pirate speak, with nautical metaphors."


@pytest.fixture(autouse=True)
def schedule_in_a_few_words(monkeypatch) -> None:
    """/help reads the workflow's cron lines: not needed to tell these stories."""
    monkeypatch.setattr(wiring, "schedule_in_words", lambda *args: "every 10 minutes", raising=False)


@pytest.fixture
def make_job(env, state_dir, clock):
    """A job as `python -m botjob run` builds it; with BOTJOB_STATE_KEY unless ``key`` is ""."""

    def make(config: Config | None = None, key: str = STATE_KEY):
        job = build_job(config or Config(), {**env, "BOTJOB_STATE_KEY": key} if key else env, state_dir)
        job.clock, job.sleep, job.pacer = clock, clock.sleep, Pacer(clock, clock.sleep)
        return job

    return make


def settings(**sections: Any) -> Config:
    return dataclasses.replace(Config(), **sections)


def texts(telegram: TelegramSandbox, chat_id: int | None = None) -> list[str]:
    return [m["text"] for m in telegram.sent(chat_id)]


def prompts(model) -> list[list[dict[str, Any]]]:
    return [r["json"]["messages"] for r in model.requests if r["method"] == "POST"]


def system_prompts(model) -> list[str]:
    """The system prompt of every question the model was asked, in order ("" when none was sent)."""
    return [next((m["content"] for m in p if m["role"] == "system"), "") for p in prompts(model)]


def member_checks(telegram: TelegramSandbox) -> list[dict[str, Any]]:
    return [params for name, params in telegram.calls if name == "getChatMember"]


def in_group(telegram: TelegramSandbox, text: str, *, user_id: int = FRANK, chat_id: int = GROUP,
             chat_type: str = "supergroup") -> int:
    return telegram.user_says(text, chat_id=chat_id, chat_type=chat_type, user_id=user_id,
                              first_name="Frank", chat_title="Hikers")


def ask_bot(telegram: TelegramSandbox, text: str, **kwargs: Any) -> int:
    return in_group(telegram, f"@{telegram.bot_username} {text}", **kwargs)


def shown(persona: str) -> str:
    return REPLY.persona_shown.replace("{persona}", persona)


# ============================================================================ 1. one chat's own system prompt


def test_a_persona_is_one_chats_system_prompt_across_runs_and_other_chats_keep_the_default(telegram, model, make_job) -> None:
    telegram.user_says(f"/persona {PIRATE}", chat_id=ALICE)
    make_job().run_once()
    assert texts(telegram, ALICE) == [REPLY.persona_set]
    assert prompts(model) == []  # a command costs no model call

    telegram.user_says("where is the nearest harbour?", chat_id=ALICE)
    telegram.user_says("where is the nearest station?", chat_id=BOB)
    make_job().run_once()  # a new process: the persona comes from state/

    by_question = {p[-1]["content"]: system for p, system in zip(prompts(model), system_prompts(model))}
    assert by_question == {"where is the nearest harbour?": PIRATE, "where is the nearest station?": DEFAULT}


def test_persona_alone_shows_the_current_one_and_how_to_change_it(telegram, model, make_job) -> None:
    telegram.user_says("/persona", chat_id=ALICE)
    make_job().run_once()
    telegram.user_says(f"/persona {PIRATE}", chat_id=ALICE)
    telegram.user_says("/persona", chat_id=ALICE)
    make_job().run_once()

    before, _, after = texts(telegram, ALICE)
    assert before == REPLY.persona_default.replace("{persona}", DEFAULT)
    assert after == shown(PIRATE) and "/persona reset" in after
    assert prompts(model) == []


def test_persona_reset_goes_back_to_the_owners_system_prompt(telegram, model, make_job, state_dir) -> None:
    owner = settings(llm=dataclasses.replace(Config().llm, system_prompt="You are the Hikers' club assistant."))
    telegram.user_says(f"/persona {PIRATE}", chat_id=ALICE)
    make_job(owner).run_once()
    assert list((state_dir / "personas").iterdir())

    telegram.user_says("/persona RESET", chat_id=ALICE)
    telegram.user_says("hello?", chat_id=ALICE)
    make_job(owner).run_once()

    assert texts(telegram, ALICE)[1:] == [REPLY.persona_reset, "Echo: hello?"]
    assert system_prompts(model) == ["You are the Hikers' club assistant."]
    assert list((state_dir / "personas").iterdir()) == []  # nothing of it is kept


def test_a_long_persona_is_cut_at_a_word_and_the_reply_says_so(telegram, model, make_job) -> None:
    long_persona = " ".join(f"Rule {n}: always mention lighthouse number {n}." for n in range(1, 80))  # ~3,000 characters
    telegram.user_says(f"/persona {long_persona}", chat_id=ALICE)
    telegram.user_says("hello", chat_id=ALICE)
    make_job().run_once()

    [kept] = system_prompts(model)
    assert len(kept) <= PERSONA_LIMIT and len(kept) > PERSONA_LIMIT * 0.9
    assert long_persona.startswith(kept) and long_persona[len(kept)] == " "  # whole words only
    assert texts(telegram, ALICE)[0] == f"{REPLY.persona_set}\n\n{REPLY.persona_too_long.replace('{limit}', '1,000')}"

    telegram.user_says(f"/persona {PIRATE}", chat_id=ALICE)  # one that fits: no word about cutting
    make_job().run_once()
    assert texts(telegram, ALICE)[-1] == REPLY.persona_set


def test_a_persona_in_the_middle_of_a_burst_is_its_own_work_in_order(telegram, model, make_job) -> None:
    first = telegram.user_says("name a sea", chat_id=ALICE)
    telegram.user_says(f"/persona {PIRATE}", chat_id=ALICE)
    telegram.user_says("name a ship", chat_id=ALICE)
    last = telegram.user_says("and its captain", chat_id=ALICE)
    asked, last_message = message_id_of(telegram, first), message_id_of(telegram, last)

    make_job().run_once()

    assert system_prompts(model) == [DEFAULT, PIRATE]  # the question before it, then the two after it as one
    assert [m["text"] for m in telegram.sent(ALICE)] == ["Echo: name a sea", REPLY.persona_set, "Echo: name a ship\n\nand its captain"]
    assert [m["reply_to_message_id"] for m in telegram.sent(ALICE)][::2] == [asked, last_message]


def test_memory_and_reply_context_work_as_before_under_a_persona(telegram, model, make_job) -> None:
    config = settings(chat=ChatSettings(memory_turns=2))
    telegram.user_says("my parrot is called Polly", chat_id=ALICE)
    make_job(config).run_once()
    telegram.user_says(f"/persona {PIRATE}", chat_id=ALICE)
    make_job(config).run_once()
    quoted = telegram.sent(ALICE)[0]["message_id"]
    telegram.user_says("what is her name?", chat_id=ALICE, reply_to_message_id=quoted)
    make_job(config).run_once()

    assert prompts(model)[-1] == [
        {"role": "system", "content": PIRATE},
        {"role": "user", "content": "my parrot is called Polly"},
        {"role": "assistant", "content": "Echo: my parrot is called Polly"},
        {"role": "user", "content": "what is her name?"},
    ]


# ============================================================================ 2. groups: administrators only


@pytest.mark.parametrize("status", ["creator", "administrator"])
def test_in_a_group_only_administrators_change_the_persona_and_others_are_told_so(telegram, model, make_job, status) -> None:
    in_group(telegram, "hello all")  # Frank and Grace are members of the group
    in_group(telegram, "hi", user_id=GRACE)
    telegram.set_member_status(GROUP, GRACE, status)
    in_group(telegram, f"/persona@{telegram.bot_username} {PIRATE}")  # Frank, a member
    make_job().run_once()
    assert texts(telegram, GROUP) == [REPLY.persona_admins_only]

    in_group(telegram, f"/persona {PIRATE}", user_id=GRACE)  # an administrator
    ask_bot(telegram, "where do we hike on Sunday?")
    in_group(telegram, "/persona")  # anyone may look
    make_job().run_once()

    assert texts(telegram, GROUP)[1:] == [REPLY.persona_set, "Echo: where do we hike on Sunday?", shown(PIRATE)]
    assert system_prompts(model) == [PIRATE]
    assert [(c["chat_id"], c["user_id"]) for c in member_checks(telegram)] == [(GROUP, FRANK), (GROUP, GRACE)]  # not to look

    in_group(telegram, "/persona reset")  # Frank may not undo it either
    make_job().run_once()
    assert texts(telegram, GROUP)[-1] == REPLY.persona_admins_only


def test_an_anonymous_administrator_changes_it_without_telegram_being_asked(telegram, model, make_job) -> None:
    telegram.anonymous_admin_says(f"/persona {PIRATE}", chat_id=GROUP)
    ask_bot(telegram, "hello")
    make_job().run_once()
    assert texts(telegram, GROUP) == [REPLY.persona_set, "Echo: hello"]
    assert system_prompts(model) == [PIRATE] and member_checks(telegram) == []


def test_a_channel_writing_in_the_group_may_not_change_it(telegram, model, make_job) -> None:
    channel = {"id": -100_555, "type": "channel", "title": "Hikers' news"}
    telegram.add_message({"chat": {"id": GROUP, "type": "supergroup", "title": "Hikers"}, "sender_chat": channel,
                          "from": {"id": 136817688, "is_bot": True, "first_name": "Channel", "username": "Channel_Bot"},
                          "text": f"/persona {PIRATE}"})
    make_job().run_once()
    assert texts(telegram, GROUP) == [REPLY.persona_admins_only] and member_checks(telegram) == []


def test_when_telegram_does_not_show_the_bot_who_is_an_administrator_nothing_changes_and_the_group_is_told(
        telegram, model, make_job, state_dir) -> None:
    in_group(telegram, "hi", user_id=GRACE)
    telegram.set_member_status(GROUP, GRACE, "administrator")
    telegram.hide_members(GROUP)  # a group that hides its members from a bot that is no administrator
    last = in_group(telegram, f"/persona {PIRATE}", user_id=GRACE)
    report = make_job().run_once()

    assert texts(telegram, GROUP) == [REPLY.persona_unchecked]
    assert report.answered == 1 and report.error is None and stored_offset(state_dir) == last + 1
    assert not (state_dir / "personas").exists()

    telegram.set_member_status(GROUP, telegram.bot_id, "administrator")  # the group makes the bot an administrator
    in_group(telegram, f"/persona {PIRATE}", user_id=GRACE)
    make_job().run_once()
    assert texts(telegram, GROUP)[-1] == REPLY.persona_set


def test_a_passing_failure_of_get_chat_member_leaves_the_command_for_the_next_run(telegram, model, make_job, state_dir) -> None:
    in_group(telegram, "hi", user_id=GRACE)
    telegram.set_member_status(GROUP, GRACE, "administrator")
    command = in_group(telegram, f"/persona {PIRATE}", user_id=GRACE)
    telegram.fail("getChatMember", 502, times=10)

    report = make_job().run_once()

    assert report.error is not None and texts(telegram, GROUP) == []
    assert stored_offset(state_dir) == command  # not finished: the next run asks again
    telegram.heal()
    make_job().run_once()
    assert texts(telegram, GROUP) == [REPLY.persona_set]


def test_the_persona_follows_a_group_that_became_a_supergroup(telegram, model, make_job, state_dir) -> None:
    telegram.anonymous_admin_says(f"/persona {PIRATE}", chat_id=GROUP, chat_type="group")
    job = make_job()
    job.run_once()
    old_file = job.personas.path(GROUP)
    assert old_file.exists()

    supergroup = telegram.upgrade_to_supergroup(GROUP)
    ask_bot(telegram, "ahoy?", chat_id=supergroup, chat_type="supergroup")
    make_job().run_once()

    assert system_prompts(model) == [PIRATE]
    assert not old_file.exists() and job.personas.path(supergroup).exists()


# ============================================================================ 3. on, off, and without a key


def test_without_a_state_key_persona_says_it_is_not_available_here_and_is_not_offered(telegram, model, make_job, state_dir) -> None:
    telegram.user_says(f"/persona {PIRATE}", chat_id=ALICE)
    telegram.user_says("/help", chat_id=ALICE)
    telegram.user_says("hello", chat_id=ALICE)
    report = make_job(key="").run_once()

    unavailable, help_text, _ = texts(telegram, ALICE)
    assert unavailable == REPLY.persona_unavailable and report.error is None
    assert "/persona" not in help_text and [c["command"] for c in telegram.commands] == ["start", "help"]
    assert system_prompts(model) == [DEFAULT] and not (state_dir / "personas").exists()


def test_with_a_state_key_the_menu_and_the_help_offer_persona(telegram, model, make_job) -> None:
    telegram.user_says("/help", chat_id=ALICE)
    make_job().run_once()
    assert [c["command"] for c in telegram.commands] == ["start", "help", "persona"]
    assert texts(telegram, ALICE)[0].endswith("\n/persona - how I answer here: /persona who I should be")


def test_with_personas_off_persona_is_an_unknown_command(telegram, model, make_job, state_dir) -> None:
    off = settings(chat=ChatSettings(personas=False))
    telegram.user_says(f"/persona {PIRATE}", chat_id=ALICE)
    telegram.user_says("/help", chat_id=ALICE)
    in_group(telegram, f"/persona {PIRATE}")  # in a group, left for another bot, as any unknown command
    make_job(off).run_once()

    persona_answer, help_text = texts(telegram, ALICE)
    assert persona_answer == help_text and "/persona" not in help_text
    assert texts(telegram, GROUP) == [] and member_checks(telegram) == []
    assert [c["command"] for c in telegram.commands] == ["start", "help"]
    assert not (state_dir / "personas").exists()


def test_a_chat_that_never_set_a_persona_costs_no_key(telegram, model, make_job, monkeypatch) -> None:
    def no_keys(state_key: str):
        raise AssertionError("keys derived for a persona no chat has")

    monkeypatch.setattr(memory_module, "derive_state_keys", no_keys)
    telegram.user_says("hello", chat_id=ALICE)
    make_job().run_once()
    assert texts(telegram, ALICE) == ["Echo: hello"] and system_prompts(model) == [DEFAULT]


# ============================================================================ 4. privacy: state/, logs, summaries


SECRET_WORDS = ["Quetzalcoatlus-Marmalade", "Xylophonist", "918273645"]


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full_env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), "HF_HUB_DISABLE_TELEMETRY": "1", **env}
    return subprocess.run([sys.executable, "-m", "botjob", *args], env=full_env, cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def test_in_actions_no_persona_reaches_logs_summary_or_state_readably(telegram, model, env, tmp_path) -> None:
    (tmp_path / "botjob.yaml").write_text("chat:\n  memory_turns: 3\n")
    summary = tmp_path / "summary.md"
    actions = {**env, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "BOTJOB_STATE_KEY": STATE_KEY}
    persona = "You are the Quetzalcoatlus-Marmalade oracle, a retired Xylophonist who speaks in riddles."
    telegram.user_says(f"/persona {persona}", chat_id=918273645, first_name="Quentin")
    telegram.user_says("/persona", chat_id=918273645, first_name="Quentin")
    telegram.user_says("who are you?", chat_id=918273645, first_name="Quentin")
    telegram.user_says(f"/persona {'Xylophonist ' * 200}", chat_id=ALICE)  # a long one: cut, padded alike

    result = run_cli("run", "-v", "--state-dir", "state", env=actions, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert texts(telegram, 918273645)[1] == shown(persona)  # it was kept, and shown to its chat
    public = {"stdout": result.stdout, "stderr": result.stderr, "summary": summary.read_text()}
    for where, text in public.items():
        for secret in SECRET_WORDS:
            assert secret not in text, f"{secret!r} in {where}"
    state = {str(p.relative_to(tmp_path / "state")): p.read_bytes() for p in (tmp_path / "state").rglob("*") if p.is_file()}
    for name, content in state.items():
        for secret in SECRET_WORDS:
            assert secret.encode() not in content and secret not in name, f"{secret!r} in state/{name}"

    personas = {name: content for name, content in state.items() if name.startswith("personas/")}
    secret = memory_module.derive_state_keys(STATE_KEY).name_secret
    assert sorted(personas) == sorted(f"personas/{keyed_name(secret, PERSONA_NAMES, chat)}.bin" for chat in (918273645, ALICE))
    memory_names = {name.split("/")[1] for name in state if name.startswith("memory/")}
    assert memory_names == {f"{keyed_name(secret, MEMORY_NAMES, 918273645)}.bin"}  # a name of its own per purpose
    assert not memory_names & {name.split("/")[1] for name in personas}
    assert len({len(content) for content in personas.values()}) == 1  # a short persona and a long one look alike
    opened = [json.loads(Fernet(STATE_KEY.encode()).decrypt(content)) for content in personas.values()]
    assert persona in [document["persona"] for document in opened]  # readable with BOTJOB_STATE_KEY only


# ============================================================================ 5. save-state: handed on, merged


def test_save_state_takes_persona_files_and_deletes_a_reset_one(tmp_path) -> None:
    checkout, answered = tmp_path / "checkout" / "state", tmp_path / "answered"
    ChatPersonas(checkout / "personas", STATE_KEY).set(BOB, "You are terse.")
    answered.mkdir()
    personas = ChatPersonas(answered / "personas", STATE_KEY)
    personas.set(ALICE, PIRATE)

    handover = take_state(answered, checkout)  # Bob reset his persona in the run: his file is gone

    assert handover.written == (f"personas/{personas.path(ALICE).name}",)
    assert handover.deleted == (f"personas/{personas.path(BOB).name}",)
    assert ChatPersonas(checkout / "personas", STATE_KEY).get(ALICE) == PIRATE


def test_save_state_refuses_a_persona_file_that_is_not_encrypted(tmp_path) -> None:
    answered = tmp_path / "answered"
    (answered / "personas").mkdir(parents=True)
    (answered / "personas" / f"{'ab' * 16}.bin").write_text(f"{PIRATE}\n")

    with pytest.raises(RefusedState, match="not a Fernet token") as refused:
        take_state(answered, tmp_path / "checkout" / "state")

    assert "nothing was saved" in refused.value.explain()


def test_two_runs_racing_keep_each_chats_newer_persona(tmp_path) -> None:
    def written(at: int, persona: str) -> str:
        personas = ChatPersonas(tmp_path / str(at), STATE_KEY, clock=lambda: at)
        personas.set(ALICE, persona)
        return personas.path(ALICE).read_text()

    older, newer = written(2_000_000_000, "You are terse."), written(2_000_000_100, PIRATE)
    name = f"personas/{ChatPersonas(tmp_path, STATE_KEY).path(ALICE).name}"
    assert merge_state_file(name, older, newer) == newer
    assert merge_state_file(name, newer, older) == newer
