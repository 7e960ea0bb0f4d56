"""/model, told as stories against the sandbox over real HTTP: each chat picks one of the owner's models.

One model stand-in serves every model name at once (BOTJOB_LLM_URL): the owner's model is asked for
"acme/first" (llm.endpoint_model), and llm.choices given by name alone are names on that server, so the
"model" of each chat-completion request tells which model answered. People list, switch and go back; in
groups only administrators switch; a pick falls back like any other model; it is kept in
state/models.json under keyed names, with no chat id in state/.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from botjob import memory as memory_module
from botjob import wiring
from botjob.cli import format_report, main
from botjob.config import Config, LLMSettings, ModelChoice, RunSettings
from botjob.llm import ModelTarget
from botjob.memory import MEMORY_NAMES, keyed_name, name_secret
from botjob.model_choice import MODEL_NAMES, ChosenModels
from botjob.pacing import Pacer
from botjob.personas import PERSONA_NAMES
from botjob.sandbox import TelegramSandbox
from botjob.state_handover import RefusedState, take_state
from botjob.state_merge import merge_state_file
from botjob.wiring import build_job, chat_models, choice_targets
from conftest import stored_offset
from test_fallback import router  # noqa: F401 - the Hugging Face router stood in for, as the fallback tests do

FIRST, SECOND, THIRD, SPARE = "acme/first", "acme/second", "acme/third", "acme/spare"
ALICE, BOB, CAROL, FRANK, GRACE = 1001, 1002, 1003, 1006, 1007
GROUP = -100_777
REPLY = Config().reply
STATE_KEY = Fernet.generate_key().decode()  # a ready Fernet key: no slow key stretching in the tests


@pytest.fixture(autouse=True)
def schedule_in_a_few_words(monkeypatch) -> None:
    """/help reads the workflow's cron lines: not needed to tell these stories."""
    monkeypatch.setattr(wiring, "schedule_in_words", lambda *args: "every 10 minutes", raising=False)


@pytest.fixture
def make_job(env, state_dir, clock):
    """A job as `python -m botjob run` builds it, with BOTJOB_STATE_KEY when ``key`` is given."""

    def make(config: Config, key: str = ""):
        job = build_job(config, {**env, "BOTJOB_STATE_KEY": key} if key else env, state_dir)
        job.clock, job.sleep, job.pacer = clock, clock.sleep, Pacer(clock, clock.sleep)
        return job

    return make


def offering(*choices: str, fallback: tuple[ModelChoice, ...] = (), **run: Any) -> Config:
    """The owner's model "acme/first" on BOTJOB_LLM_URL's server, these llm.choices (names on that server) and fallbacks."""
    llm = LLMSettings(endpoint_model=FIRST, choices=tuple(ModelChoice(model=name) for name in choices), fallback=fallback)
    return Config(llm=llm, run=RunSettings(**run))


def on(model, name: str) -> ModelChoice:
    """A fallback entry naming a model of the stand-in (a fallback given by name alone is a Hugging Face id)."""
    return ModelChoice(url=model.url, model=name)


THREE = offering(FIRST, SECOND, THIRD)


def texts(telegram: TelegramSandbox, chat_id: int | None = None) -> list[str]:
    return [m["text"] for m in telegram.sent(chat_id)]


def answered_by(model) -> dict[str, str]:
    """Each question the model stand-in answered -> the model name the request asked for."""
    return {r["json"]["messages"][-1]["content"]: r["json"]["model"] for r in completions(model)}


def completions(model) -> list[dict[str, Any]]:
    return [r for r in model.requests if r["method"] == "POST" and r["path"].endswith("/chat/completions")]


def asked(model) -> list[str]:
    """The model of every chat completion, in order."""
    return [r["json"]["model"] for r in completions(model)]


def listed(current: int | None = None, names: tuple[str, ...] = (FIRST, SECOND, THIRD)) -> str:
    """/model's list when the chat's model is choice number ``current`` (None: the owner's, acme/first)."""
    lines = [f"{n}. {name}{' (default)' if name == FIRST else ''}{' ← now' if n == (current or 1) else ''}"
             for n, name in enumerate(names, 1)]
    return (REPLY.model_list.replace("{current}", names[current - 1] if current else FIRST)
            .replace("{choices}", "\n".join(lines)).replace("{default}", FIRST))


def member_checks(telegram: TelegramSandbox) -> list[dict[str, Any]]:
    return [params for name, params in telegram.calls if name == "getChatMember"]


def in_group(telegram: TelegramSandbox, text: str, *, user_id: int = FRANK, chat_id: int = GROUP,
             chat_type: str = "supergroup") -> int:
    return telegram.user_says(text, chat_id=chat_id, chat_type=chat_type, user_id=user_id, first_name="Frank", chat_title="Hikers")


def ask_bot(telegram: TelegramSandbox, text: str, **kwargs: Any) -> int:
    return in_group(telegram, f"@{telegram.bot_username} {text}", **kwargs)


# ============================================================================ 1. list, switch, go back


def test_model_alone_lists_the_owners_choices_numbered_with_the_default_and_the_current_one_marked(telegram, model, make_job) -> None:
    telegram.user_says("/model", chat_id=ALICE)
    make_job(THREE).run_once()

    assert texts(telegram, ALICE) == [
        "Here I answer with acme/first. The models I can answer with:\n\n"
        "1. acme/first (default) ← now\n2. acme/second\n3. acme/third\n\n"
        "To switch: /model followed by a name or number. /model default goes back to acme/first."
    ]
    assert completions(model) == []  # a command costs no model call


def test_model_switches_one_chat_only_and_the_pick_is_remembered_across_runs(telegram, model, make_job, state_dir) -> None:
    telegram.user_says("/model 2", chat_id=ALICE)
    make_job(THREE).run_once()
    assert texts(telegram, ALICE) == ["Done: from now on I answer here with acme/second. /model default goes back to acme/first."]

    telegram.user_says("where is the harbour?", chat_id=ALICE)
    telegram.user_says("where is the station?", chat_id=BOB)
    telegram.user_says("/model", chat_id=ALICE)
    make_job(THREE).run_once()  # a new process: the pick comes from state/

    assert answered_by(model) == {"where is the harbour?": SECOND, "where is the station?": FIRST}
    assert texts(telegram, ALICE)[-1] == listed(2)
    assert (state_dir / "models.json").exists()


def test_a_model_is_named_by_its_number_its_name_in_any_case_or_the_part_after_its_owner(telegram, model, make_job) -> None:
    for pick, question in (("3", "one"), ("ACME/SECOND", "two"), ("third", "three"), ("“acme/second”", "four")):
        telegram.user_says(f"/model {pick}", chat_id=ALICE)
        telegram.user_says(question, chat_id=ALICE)
    make_job(THREE).run_once()

    assert answered_by(model) == {"one": THIRD, "two": SECOND, "three": THIRD, "four": SECOND}


def test_a_model_in_the_middle_of_a_burst_answers_the_messages_after_it(telegram, model, make_job) -> None:
    telegram.user_says("name a sea", chat_id=ALICE)
    telegram.user_says("/model acme/third", chat_id=ALICE)
    telegram.user_says("name a ship", chat_id=ALICE)
    telegram.user_says("and its captain", chat_id=ALICE)
    make_job(THREE).run_once()

    assert asked(model) == [FIRST, THIRD]  # the question before it, then the two after it as one


@pytest.mark.parametrize("back", ["/model default", "/model reset", "/model 1", "/model acme/first"])
def test_model_default_or_the_owners_model_by_name_goes_back_to_it(telegram, model, make_job, back) -> None:
    telegram.user_says("/model acme/third", chat_id=ALICE)
    make_job(THREE).run_once()
    telegram.user_says(back, chat_id=ALICE)
    telegram.user_says("hello?", chat_id=ALICE)
    make_job(THREE).run_once()

    assert texts(telegram, ALICE)[1:] == ["Done: I'm back to my usual model here, acme/first.", "Echo: hello?"]
    assert asked(model) == [FIRST]


@pytest.mark.parametrize("unknown", ["gpt-5", "9", "0", "acme"])
def test_a_name_not_on_the_list_changes_nothing_and_gets_the_list(telegram, model, make_job, unknown) -> None:
    telegram.user_says("/model acme/second", chat_id=ALICE)
    telegram.user_says(f"/model {unknown}", chat_id=ALICE)
    telegram.user_says("still you?", chat_id=ALICE)
    make_job(THREE).run_once()

    assert texts(telegram, ALICE)[1] == f"{REPLY.model_unknown}\n\n{listed(2)}"
    assert answered_by(model) == {"still you?": SECOND}


def test_a_model_the_owner_no_longer_offers_gives_way_to_the_default_and_model_says_so(telegram, model, make_job, state_dir) -> None:
    telegram.user_says("/model acme/third", chat_id=ALICE)
    make_job(THREE).run_once()

    fewer = offering(FIRST, SECOND)  # the owner took acme/third off llm.choices
    telegram.user_says("are you there?", chat_id=ALICE)
    telegram.user_says("/model", chat_id=ALICE)
    make_job(fewer).run_once()

    assert answered_by(model) == {"are you there?": FIRST}
    withdrawn = REPLY.model_withdrawn.replace("{model}", THIRD)
    assert texts(telegram, ALICE)[-1] == f"{withdrawn}\n\n{listed(None, (FIRST, SECOND))}"

    telegram.user_says("/model", chat_id=ALICE)  # said once: the pick is forgotten
    make_job(THREE).run_once()  # and offering it again does not bring it back
    assert texts(telegram, ALICE)[-1] == listed(None)


# ============================================================================ 2. groups: administrators switch, anyone may look


@pytest.mark.parametrize("status", ["creator", "administrator"])
def test_in_a_group_only_administrators_switch_and_anyone_may_look(telegram, model, make_job, status) -> None:
    in_group(telegram, "hello all")  # Frank and Grace are members
    in_group(telegram, "hi", user_id=GRACE)
    telegram.set_member_status(GROUP, GRACE, status)
    in_group(telegram, f"/model@{telegram.bot_username} 2")  # Frank, a member
    ask_bot(telegram, "first question")
    make_job(THREE).run_once()
    assert texts(telegram, GROUP) == [REPLY.model_admins_only, "Echo: first question"]
    assert asked(model) == [FIRST]

    in_group(telegram, "/model 2", user_id=GRACE)  # an administrator
    ask_bot(telegram, "second question")
    in_group(telegram, "/model")  # anyone may look
    in_group(telegram, "/model gpt-5")  # and a name not offered changes nothing: no one is asked about
    make_job(THREE).run_once()

    assert texts(telegram, GROUP)[2:] == [
        "Done: from now on I answer here with acme/second. /model default goes back to acme/first.",
        "Echo: second question", listed(2), f"{REPLY.model_unknown}\n\n{listed(2)}"]
    assert answered_by(model)["second question"] == SECOND
    assert [(c["chat_id"], c["user_id"]) for c in member_checks(telegram)] == [(GROUP, FRANK), (GROUP, GRACE)]

    in_group(telegram, "/model default")  # Frank may not undo it either
    ask_bot(telegram, "third question")
    make_job(THREE).run_once()
    assert texts(telegram, GROUP)[-2] == REPLY.model_admins_only
    assert answered_by(model)["third question"] == SECOND


def test_an_anonymous_administrator_switches_without_telegram_being_asked(telegram, model, make_job) -> None:
    telegram.anonymous_admin_says("/model 3", chat_id=GROUP)
    ask_bot(telegram, "hello")
    make_job(THREE).run_once()
    assert answered_by(model) == {"hello": THIRD} and member_checks(telegram) == []


def test_when_telegram_does_not_show_who_is_an_administrator_nothing_changes_and_the_group_is_told(telegram, model, make_job, state_dir) -> None:
    in_group(telegram, "hi", user_id=GRACE)
    telegram.set_member_status(GROUP, GRACE, "administrator")
    telegram.hide_members(GROUP)
    last = in_group(telegram, "/model 2", user_id=GRACE)
    report = make_job(THREE).run_once()

    assert texts(telegram, GROUP) == [REPLY.model_unchecked]
    assert report.error is None and stored_offset(state_dir) == last + 1
    assert not (state_dir / "models.json").exists()


def test_the_pick_follows_a_group_that_became_a_supergroup(telegram, model, make_job) -> None:
    telegram.anonymous_admin_says("/model acme/third", chat_id=GROUP, chat_type="group")
    make_job(THREE).run_once()

    supergroup = telegram.upgrade_to_supergroup(GROUP)
    ask_bot(telegram, "ahoy?", chat_id=supergroup, chat_type="supergroup")
    make_job(THREE).run_once()

    assert answered_by(model) == {"ahoy?": THIRD}


# ============================================================================ 3. a pick falls back like any other model


def test_a_picked_model_that_cannot_answer_gives_way_to_the_owners_and_is_set_aside_for_every_chat(telegram, model, make_job) -> None:
    model.fail(402, times=None, model=SECOND)
    telegram.user_says("/model acme/second", chat_id=ALICE)
    telegram.user_says("/model acme/second", chat_id=CAROL)
    make_job(THREE).run_once()
    for chat in (ALICE, BOB, CAROL):
        telegram.user_says(f"question from {chat}", chat_id=chat)

    report = make_job(offering(FIRST, SECOND, THIRD, concurrency=1)).run_once()

    assert sorted(texts(telegram)[2:]) == [f"Echo: question from {chat}" for chat in (ALICE, BOB, CAROL)]
    assert report.error is None and report.answered == 3
    assert asked(model).count(SECOND) == 1  # set aside after the first question: Carol's went straight on
    [chat] = report.models
    tallies = {m.name.split(" at ")[0]: (m.answered, m.instead, bool(m.set_aside)) for m in chat.models}
    assert tallies == {FIRST: (3, 2, False), SECOND: (0, 0, True), THIRD: (0, 0, False)}
    summary = format_report(report)
    assert f"models: chat: {SECOND} at {model.url} set aside (model answered HTTP 402: no inference credits left); " in summary
    assert f"3 answered by {FIRST} at {model.url} (2 of them as a fallback)" in summary


def test_a_picks_fallbacks_are_the_owners_model_then_the_fallback_list(telegram, model, make_job) -> None:
    model.fail(503, times=None, model=THIRD)
    model.fail(402, times=None, model=FIRST)
    telegram.user_says("/model acme/third", chat_id=ALICE)
    make_job(offering(FIRST, THIRD, fallback=(on(model, SPARE),))).run_once()
    telegram.user_says("anyone?", chat_id=ALICE)

    report = make_job(offering(FIRST, THIRD, fallback=(on(model, SPARE),), retries=0)).run_once()

    assert texts(telegram, ALICE)[-1] == "Echo: anyone?"
    assert asked(model) == [THIRD, FIRST, SPARE]  # [choice, llm.model, *llm.fallback]
    assert report.error is None and report.models[0].fell_back


def test_a_model_that_is_both_a_choice_and_a_fallback_is_one_model_counted_once(telegram, model, make_job) -> None:
    both = offering(FIRST, SECOND, THIRD, fallback=(on(model, SECOND),), concurrency=1, retries=0)
    model.fail(402, times=None, model=THIRD)
    model.fail(402, times=None, model=FIRST)
    telegram.user_says("/model acme/third", chat_id=ALICE)
    telegram.user_says("/model acme/second", chat_id=CAROL)
    make_job(both).run_once()
    for chat in (ALICE, BOB, CAROL):
        telegram.user_says(f"question from {chat}", chat_id=chat)

    report = make_job(both).run_once()

    assert report.answered == 3 and report.error is None
    assert asked(model).count(FIRST) == 1 and asked(model).count(THIRD) == 1  # set aside for everyone
    [chat] = report.models
    assert [m.name.split(" at ")[0] for m in chat.models] == [FIRST, SECOND, THIRD]  # each model once
    assert {m.name.split(" at ")[0]: (m.answered, m.instead) for m in chat.models} == {FIRST: (0, 0), SECOND: (3, 2), THIRD: (0, 0)}


def test_a_pick_that_answers_is_no_fallback_and_the_run_says_nothing_of_it(telegram, model, make_job) -> None:
    telegram.user_says("/model acme/second", chat_id=ALICE)
    telegram.user_says("hello", chat_id=ALICE)
    telegram.user_says("hello", chat_id=BOB)

    report = make_job(THREE).run_once()

    assert sorted(asked(model)) == [FIRST, SECOND]
    assert not report.models[0].fell_back and "models:" not in format_report(report)


# ============================================================================ 4. on and off: the menu, the help, the settings


def test_without_choices_model_is_an_unknown_command_left_out_of_the_menu_and_the_help(telegram, model, make_job, state_dir) -> None:
    telegram.user_says("/model acme/second", chat_id=ALICE)
    telegram.user_says("/help", chat_id=ALICE)
    in_group(telegram, "/model 2")  # in a group, left for another bot, as any unknown command
    make_job(offering()).run_once()

    model_answer, help_text = texts(telegram, ALICE)
    assert model_answer == help_text and "/model" not in help_text
    assert texts(telegram, GROUP) == [] and member_checks(telegram) == []
    assert "model" not in [c["command"] for c in telegram.commands]
    assert not (state_dir / "models.json").exists()


def test_with_choices_the_menu_and_the_help_offer_model(telegram, model, make_job) -> None:
    telegram.user_says("/help", chat_id=ALICE)
    make_job(THREE).run_once()
    assert [c["command"] for c in telegram.commands] == ["start", "help", "model"]
    assert texts(telegram, ALICE)[0].endswith("\n/model - which model answers here: /model name or number")


def settings_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "botjob.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("text", "problem", "fix"), [
    ("llm:\n  choices: [acme/x, ACME/X]\n", "'llm.choices' entry 2 goes by the same name in /model as entry 1", "keep one"),
    ("llm:\n  choices: [acme/x, {url: \"http://a.example/v1\", model: acme/x}]\n", "entry 2 goes by the same name", "keep one"),
    ("llm:\n  choices: [default]\n", "'llm.choices' entry 1 is called 'default', which /model reads as going back", "remove"),
    ("llm:\n  choices: [acme/x, \"2\"]\n", "entry 2 is called '2', which /model reads as a place in the list", "remove"),
    ("llm:\n  choices: [\"ftp://models.example\"]\n", "entry 1 is neither a model name nor an http(s) URL", "write a URL whole"),
    ("llm:\n  choices: [\"\"]\n", "'llm.choices' entry 1 is empty", "remove the entry"),
    ("llm:\n  choices: [{model: acme/x, colour: red}]\n", "'llm.choices' entry 1 has the keys colour, model", "{model: owner/name"),
    ("llm:\n  choices: [{model: \"not an id\", provider: together}]\n", "entry 1 is neither a Hugging Face model id", "e.g. Qwen"),
])
def test_choices_that_cannot_work_stop_at_load_with_the_fix(tmp_path: Path, env, capsys, text: str, problem: str, fix: str) -> None:
    code = main(["run", "--config", str(settings_file(tmp_path, text))], env=env)
    error = capsys.readouterr().err
    assert code == 2 and problem in error and fix in error.partition(" — ")[2]
    assert "Traceback" not in error


def test_without_a_server_a_name_alone_must_be_a_hugging_face_model_id(tmp_path: Path, env, capsys) -> None:
    config = settings_file(tmp_path, "llm:\n  choices: [acme/x, \"llama3.1:8b\"]\n")
    without_server = {**env, "BOTJOB_LLM_URL": "", "HF_TOKEN": "hf_" + "x" * 34}

    code = main(["run", "--config", str(config)], env=without_server)

    error = capsys.readouterr().err
    assert code == 2 and "'llm.choices' entry 2 looks like an address" in error
    assert "no BOTJOB_LLM_URL or llm.base_url names a server that serves it by that name" in error
    assert "set BOTJOB_LLM_URL to your server" in error.partition(" — ")[2]


def test_with_a_server_a_name_alone_is_asked_of_it_by_that_name(telegram, model, make_job) -> None:
    ollama_style = offering(FIRST, "llama3.1:8b")  # no Hugging Face id: a name only the server knows
    telegram.user_says("/model llama3.1:8b", chat_id=ALICE)
    telegram.user_says("hi", chat_id=ALICE)
    make_job(ollama_style).run_once()
    assert answered_by(model) == {"hi": "llama3.1:8b"}


def test_where_each_kind_of_entry_is_asked() -> None:
    choices = (ModelChoice(model="acme/x"), ModelChoice(model="acme/y", provider="together"),
               ModelChoice(url="https://other.example/v1", model="z"))
    config = dataclasses.replace(Config(), llm=LLMSettings(provider="nscale", choices=choices))
    server = "http://models.example:8080"

    assert choice_targets(config, {"BOTJOB_LLM_URL": server}) == [
        ModelTarget(model=server, base_url=server, endpoint_model="acme/x"),  # a name on the owner's server
        ModelTarget(model="acme/y", provider="together"),  # a provider: Hugging Face's routing
        ModelTarget(model="https://other.example/v1", base_url="https://other.example/v1", endpoint_model="z"),
    ]
    assert choice_targets(config, {})[0] == ModelTarget(model="acme/x", provider="nscale")  # no server: a Hub id


def test_without_a_server_a_picked_hub_model_goes_through_the_router_then_the_owners(router) -> None:  # noqa: F811
    import httpx2

    calls, answers = router
    answers["acme/picked"] = httpx2.Response(402, json={"error": "You have exceeded your monthly included credits."})
    config = Config(llm=LLMSettings(model="acme/usual", choices=(ModelChoice(model="acme/usual"), ModelChoice(model="acme/picked"))))
    models = chat_models(config, {"HF_TOKEN": "hf_hosted_secret_0123456789"})
    picked = next(m for m in models.chosen if m.name == "acme/picked")

    assert models.reply([{"role": "user", "content": "hi"}], first=picked) == "acme/usual says hi"

    assert [(request.url.host, json.loads(request.content)["model"]) for request in calls] == [
        ("router.huggingface.co", "acme/picked"), ("router.huggingface.co", "acme/usual")]


def test_check_lists_the_choices_and_tries_each_model_only_a_pick_asks(telegram, model, env, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    settings_file(tmp_path, f"llm:\n  endpoint_model: {FIRST}\n  choices: [{FIRST}, {SECOND}, {THIRD}]\n"
                            "media:\n  voice: false\n  photos: false\n")
    model.fail(402, times=None, model=THIRD)

    code = main(["check", "--workflow", str(tmp_path / "none.yml")], env=env)

    out = capsys.readouterr().out
    assert code == 0, out  # a pick that cannot answer gives way to the owner's model: a warning
    assert "ok    model: endpoint 127.0.0.1 answered in" in out
    assert "ok    model choices: /model offers 1. acme/first (default), 2. acme/second, 3. acme/third" in out
    assert f"ok    model choice 2: {SECOND} at {model.url} answered in" in out
    assert (f"warn  model choice 3: {THIRD} at {model.url}: model answered HTTP 402: no inference credits left; "
            "the chats that pick it are answered by the models above instead") in out
    assert asked(model) == [FIRST, SECOND, THIRD]  # one tiny question each: acme/first once, as the owner's model


# ============================================================================ 5. privacy: state/ names no chat


def chat_ids_in(state: Path, chats: tuple[int, ...]) -> list[str]:
    found = []
    for path in state.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            found += [f"{chat} in {path.name}" for chat in chats if str(chat).encode() in content or str(chat) in path.name]
    return found


@pytest.mark.parametrize("key", [STATE_KEY, ""], ids=["with BOTJOB_STATE_KEY", "keyed with the bot token"])
def test_state_keeps_picks_under_keyed_names_of_their_own_and_no_chat_id(telegram, model, env, make_job, state_dir, key) -> None:
    config = dataclasses.replace(offering(FIRST, SECOND, THIRD), access=dataclasses.replace(Config().access, daily_limit=50))
    telegram.user_says("/model acme/second", chat_id=918273645)
    telegram.user_says("hello", chat_id=918273645)
    telegram.anonymous_admin_says("/model 3", chat_id=-1009988776655)
    telegram.user_says("/model acme/third", chat_id=ALICE)
    telegram.user_says("/model default", chat_id=ALICE)  # gone back: its entry says so, and still names no one
    make_job(config, key).run_once()

    document = json.loads((state_dir / "models.json").read_text())
    secret = name_secret(key or env["TELEGRAM_BOT_TOKEN"])
    assert document["v"] == 1 and {name: entry["model"] for name, entry in document["chats"].items()} == {
        keyed_name(secret, MODEL_NAMES, 918273645): SECOND,
        keyed_name(secret, MODEL_NAMES, -1009988776655): THIRD,
        keyed_name(secret, MODEL_NAMES, ALICE): "",
    }
    assert chat_ids_in(state_dir, (918273645, 9988776655, ALICE)) == []
    others = {keyed_name(secret, purpose, 918273645) for purpose in (MEMORY_NAMES, PERSONA_NAMES)}
    usage = json.loads((state_dir / "usage.json").read_text())["chats"]
    assert not (others | set(usage)) & set(document["chats"])  # names no other file uses


def test_a_bot_whose_chats_never_picked_a_model_derives_no_key(telegram, model, make_job, monkeypatch) -> None:
    def no_keys(state_key: str):
        raise AssertionError("a key derived for picks no chat made")

    monkeypatch.setattr(memory_module, "derive_state_keys", no_keys)
    telegram.user_says("hello", chat_id=ALICE)
    telegram.user_says("/model", chat_id=BOB)
    make_job(THREE).run_once()
    assert texts(telegram, ALICE) == ["Echo: hello"] and texts(telegram, BOB) == [listed(None)]


# ============================================================================ 6. save-state: handed on, checked, merged


def picks(folder: Path, at: int, **chosen: str) -> ChosenModels:
    models = ChosenModels(folder / "models.json", STATE_KEY, clock=lambda: at)
    for chat, name in chosen.items():
        if name:
            models.set(int(chat.removeprefix("c")), name)
        else:
            models.forget(int(chat.removeprefix("c")))
    return models


def test_save_state_takes_the_picks_and_refuses_a_file_that_names_a_chat_or_carries_words(tmp_path: Path) -> None:
    checkout, answered = tmp_path / "checkout" / "state", tmp_path / "answered"
    picks(answered, 2_000_000_000, c1001=SECOND)
    assert take_state(answered, checkout).written == ("models.json",)

    for damage in ({"v": 1, "chats": {"1001": {"model": SECOND, "at": 1}}},  # a chat id for a name
                   {"v": 1, "chats": {"ab" * 16: {"model": "what Alice said last night " * 40, "at": 1}}},  # words
                   {"v": 1, "chats": {"ab" * 16: {"model": SECOND, "at": 1, "text": "hello"}}}):
        (answered / "models.json").write_text(json.dumps(damage))
        with pytest.raises(RefusedState, match="models.json"):
            take_state(answered, checkout)


def test_two_runs_racing_keep_each_chats_newer_pick_and_a_newer_return_to_the_default(tmp_path: Path) -> None:
    older = picks(tmp_path / "a", 2_000_000_000, c1001=SECOND, c1002=THIRD, c1003=THIRD)
    newer = picks(tmp_path / "b", 2_000_000_100, c1001=THIRD)
    picks(tmp_path / "b", 2_000_000_100, c1003=THIRD)
    picks(tmp_path / "b", 2_000_000_200, c1003="")  # went back to the default after the older run's pick

    for theirs, ours in ((older, newer), (newer, older)):
        merged = merge_state_file("models.json", theirs.path.read_text(), ours.path.read_text())
        chosen = ChosenModels(tmp_path / "merged.json", STATE_KEY)
        chosen.path.write_text(merged)
        assert [chosen.get(chat) for chat in (1001, 1002, 1003)] == [THIRD, THIRD, None]
