"""Tests for botjob.config: the shipped botjob.yaml, and the messages an owner sees for a bad one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from botjob.config import Config, LLMSettings, RunSettings, load_config
from botjob.errors import ConfigError, Failure

REPO_ROOT = Path(__file__).resolve().parent.parent
SHIPPED = REPO_ROOT / "botjob.yaml"


def without_source(config: Config) -> Config:
    return dataclasses.replace(config, source="-")


@pytest.fixture
def settings_file(tmp_path: Path):
    """Write a botjob.yaml with the given text; returns its path."""

    def write(text: str) -> Path:
        path = tmp_path / "botjob.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


def config_error(path: Path, **kwargs) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config(path, **kwargs)
    assert caught.value.kind is Failure.BOT_WIDE
    assert caught.value.hint  # every settings error says how to fix it
    return caught.value


# ---------------------------------------------------------------------------- the shipped file


def test_shipped_settings_file_equals_the_built_in_defaults():
    config = load_config(SHIPPED, required=True)

    assert config.source == str(SHIPPED)
    assert without_source(config) == without_source(Config())


def test_shipped_settings_file_has_the_documented_values():
    config = load_config(SHIPPED, required=True)

    # Spot checks against what the file's comments promise, so the defaults cannot drift together.
    assert config.llm.model == "Qwen/Qwen2.5-7B-Instruct"
    assert config.llm.base_url == ""
    assert config.llm.system_prompt.startswith("You are a helpful assistant in a Telegram chat.")
    assert "\n" not in config.llm.system_prompt
    assert config.run.max_updates == 0 and config.run.retries == 3


# ---------------------------------------------------------------------------- absent and empty files


def test_missing_default_file_gives_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no botjob.yaml here

    assert load_config() == Config()


def test_missing_file_named_explicitly_is_an_error_with_a_hint(tmp_path):
    missing = tmp_path / "my-settings.yaml"

    err = config_error(missing, required=True)

    assert str(missing) in str(err)
    assert "not found" in str(err)
    assert "BOTJOB_CONFIG" in err.explain() or "--config" in err.explain()


def test_missing_file_not_required_gives_defaults(tmp_path):
    assert load_config(tmp_path / "nowhere.yaml") == Config()


@pytest.mark.parametrize("text", ["", "\n", "# only comments\n", "llm:\nrun:\n"])
def test_empty_file_or_empty_sections_give_defaults(settings_file, text):
    path = settings_file(text)

    config = load_config(path, required=True)

    assert without_source(config) == without_source(Config())
    assert config.source == str(path)


def test_one_key_changes_only_that_setting(settings_file):
    config = load_config(settings_file("run:\n  max_updates: 5\nllm:\n  temperature: 0\n"))

    assert config.run == RunSettings(max_updates=5)
    assert config.llm == LLMSettings(temperature=0.0)
    assert isinstance(config.llm.temperature, float)


def test_base_url_with_no_value_is_empty_text(settings_file):
    config = load_config(settings_file("llm:\n  base_url:\n  endpoint_model:\n"))

    assert config.llm.base_url == ""
    assert config.llm.endpoint_model == ""


def test_whole_numbers_are_accepted_for_decimal_settings(settings_file):
    config = load_config(settings_file("run:\n  time_budget: 300\ntelegram:\n  timeout: 15\n"))

    assert config.run.time_budget == 300.0 and isinstance(config.run.time_budget, float)
    assert config.telegram.timeout == 15.0


# ---------------------------------------------------------------------------- mistakes an owner makes


def test_unknown_key_names_the_key_and_the_file(settings_file):
    path = settings_file("llm:\n  modle: gpt2\n")

    err = config_error(path)

    assert "llm.modle" in str(err)
    assert str(path) in str(err)
    assert "llm.model" in err.hint  # the known keys are listed, so the typo is easy to spot


def test_unknown_section_names_the_section_and_the_file(settings_file):
    path = settings_file("telegarm:\n  timeout: 5\n")

    err = config_error(path)

    assert "'telegarm'" in str(err)
    assert str(path) in str(err)
    assert "telegram" in err.hint


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("run:\n  max_updates: ten\n", "run.max_updates"),
        ("llm:\n  temperature: warm\n", "llm.temperature"),
        ("run:\n  retries: true\n", "run.retries"),  # a bool is not a count
        ("llm:\n  max_tokens: yes\n", "llm.max_tokens"),  # YAML 1.1: yes is a bool
        ("llm:\n  temperature: false\n", "llm.temperature"),
        ("run:\n  max_updates: 2.5\n", "run.max_updates"),
        ("llm:\n  model: 7\n", "llm.model"),
        ("llm:\n  model: [a, b]\n", "llm.model"),
    ],
)
def test_wrong_type_names_the_key(settings_file, text, key):
    path = settings_file(text)

    err = config_error(path)

    assert f"'{key}'" in str(err)
    assert str(path) in str(err)
    assert key in err.hint


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("run:\n  max_updates: -1\n", "run.max_updates"),
        ("llm:\n  temperature: 3\n", "llm.temperature"),
        ("llm:\n  temperature: -0.1\n", "llm.temperature"),
        ("llm:\n  max_tokens: 0\n", "llm.max_tokens"),
        ("run:\n  retries: 11\n", "run.retries"),
        ("telegram:\n  timeout: 0\n", "telegram.timeout"),
    ],
)
def test_out_of_bounds_value_names_the_key_and_the_limits(settings_file, text, key):
    err = config_error(settings_file(text))

    assert f"'{key}'" in str(err)
    assert "between" in str(err)


@pytest.mark.parametrize(("text", "kept"), [
    ("llm:\n  temperature: 2\n", lambda c: c.llm.temperature == 2),
    ("llm:\n  temperature: 0\n", lambda c: c.llm.temperature == 0),
    ("run:\n  retries: 10\n", lambda c: c.run.retries == 10),
    ("run:\n  concurrency: 1\n", lambda c: c.run.concurrency == 1),
    ("media:\n  max_voice_seconds: 3600\n", lambda c: c.media.max_voice_seconds == 3600),
])
def test_bounds_themselves_are_allowed_and_kept(settings_file, text, kept):
    assert kept(load_config(settings_file(text)))


def test_not_a_number_is_refused(settings_file):
    config_error(settings_file("llm:\n  temperature: .nan\n"))


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("llm:\n  model: Qwen/Qwen2.5-7B-Instruct: big\n", 2),  # a second colon on line 2
        ("llm:\n  model: x\n\tprovider: auto\n", 3),  # a tab on line 3
    ],
)
def test_invalid_yaml_names_the_file_and_the_line(settings_file, text, line):
    path = settings_file(text)

    err = config_error(path)

    assert str(path) in str(err)
    assert "not valid YAML" in str(err)
    assert f"at line {line}" in str(err)


def test_unclosed_quote_names_the_line_it_opens_on(settings_file):
    path = settings_file("llm:\n  model: Qwen/Qwen2.5-7B-Instruct\n  provider: \"auto\n\nrun:\n  retries: 3\n")

    err = config_error(path)

    assert "line 3" in str(err)  # yaml only notices at the end of the file, line 7


def test_bad_indentation_names_the_mis_indented_line(settings_file):
    path = settings_file("run:\n  retries: 3\nllm:\n  model: x\n provider: auto\n")

    err = config_error(path)

    assert "at line 5" in str(err)  # the bad line itself, not where its section starts


def test_yaml_error_hides_the_parser_chain(settings_file):
    err = config_error(settings_file("llm: [\n"))

    assert err.__cause__ is None and err.__suppress_context__


@pytest.mark.parametrize(("text", "where"), [("- llm\n- run\n", "top"), ("llm: gpt2\n", "'llm'")])
def test_wrong_shape_says_what_was_expected(settings_file, text, where):
    err = config_error(settings_file(text))

    assert where in str(err)
    assert "mapping" in str(err)


# ---------------------------------------------------------------------------- owner mistakes seen in the field


def test_a_file_that_is_not_utf8_names_the_line_and_the_fix(tmp_path):
    path = tmp_path / "botjob.yaml"
    path.write_bytes("llm:\n  system_prompt: Tu es un caf\xe9 bavard\n".encode("latin-1"))
    error = config_error(path)
    assert "not UTF-8" in str(error) and "line 2" in str(error) and "UTF-8" in error.hint


def test_a_folder_where_the_file_should_be_is_a_clear_error(tmp_path):
    (tmp_path / "botjob.yaml").mkdir()
    assert "cannot be read" in str(config_error(tmp_path / "botjob.yaml"))


@pytest.mark.parametrize("name", ["botjob.yml", "Botjob.yaml", "botjob.yaml.txt", "botjob.YML"])
def test_a_look_alike_settings_file_is_not_silently_ignored(tmp_path, name):
    (tmp_path / name).write_text("llm:\n  temperature: 0\n")
    error = config_error(tmp_path / "botjob.yaml")
    assert name in str(error) and f"rename {name} to botjob.yaml" in error.hint


def test_a_key_set_twice_is_refused_with_its_line(settings_file):
    error = config_error(settings_file("llm:\n  temperature: 0.2\nrun:\n  retries: 1\nllm:\n  max_tokens: 9\n"))
    assert "'llm' is set twice (line 5)" in str(error)
    error = config_error(settings_file("run:\n  retries: 1\n  retries: 2\n"))
    assert "'retries' is set twice (line 3)" in str(error)


@pytest.mark.parametrize("key", ["llm.timeout", "telegram.timeout", "run.time_budget", "llm.max_tokens", "run.max_updates"])
def test_a_number_too_big_for_the_clock_is_refused_before_a_run(settings_file, key):
    section, name = key.split(".")
    error = config_error(settings_file(f"{section}:\n  {name}: 99999999999999999999\n"))
    assert f"'{key}' must be between" in str(error)


@pytest.mark.parametrize(("entry", "hint"), [("alice", '"@alice"'), ("alice bob", "@usernames")])
def test_an_allow_entry_that_is_neither_an_id_nor_an_at_username_is_refused(settings_file, entry, hint):
    error = config_error(settings_file(f"access:\n  allow: [123, '{entry}']\n"))
    assert repr(entry) in str(error) and hint in error.hint


def test_ids_and_at_usernames_are_allowed(settings_file):
    assert load_config(settings_file("access:\n  allow: [123, -100200, '@alice']\n")).access.allow == ("123", "-100200", "@alice")


def test_an_old_parse_mode_setting_keeps_working_with_a_note(settings_file):
    config = load_config(settings_file('chat:\n  parse_mode: "MarkdownV2"\n  groups: all\n'))
    assert config.chat.format == "markdown" and config.chat.groups == "all"
    assert len(config.notes) == 1 and "chat.format" in config.notes[0] and "remove the parse_mode line" in config.notes[0]


def test_the_answer_format_is_markdown_or_plain(settings_file):
    assert load_config(settings_file("chat:\n  format: plain\n")).chat.format == "plain"
    assert "'chat.format' must be one of" in str(config_error(settings_file("chat:\n  format: html\n")))


def test_an_unquoted_off_is_read_by_yaml_as_false_and_the_fix_says_to_quote_it(settings_file):
    error = config_error(settings_file("chat:\n  groups: off\n"))
    assert "'chat.groups'" in str(error) and 'groups: "off"' in error.hint
    assert load_config(settings_file('chat:\n  groups: "off"\n')).chat.groups == "off"


@pytest.mark.parametrize(("text", "says", "filter"), [
    ('media:\n  speech_model: ""\n', "is empty while media.voice is on", "pipeline_tag=automatic-speech-recognition"),
    ("media:\n  speech_model: localhost:8080/speech\n", "without http:// or https://", "pipeline_tag=automatic-speech-recognition"),
    ("media:\n  images: true\n  image_model:\n", "is empty while media.images is on", "pipeline_tag=text-to-image"),
    ("media:\n  vision_model: my vision model\n", "neither a Hugging Face model id", "pipeline_tag=image-text-to-text"),
])
def test_a_media_model_that_cannot_work_is_refused_when_the_settings_are_read(settings_file, text, says, filter):
    # Found at load, not at the first voice note or /image; the fix names the Hub's list for that task.
    error = config_error(settings_file(text))
    assert says in str(error) and filter in error.hint


def test_a_media_model_of_a_feature_that_is_off_may_be_empty(settings_file):
    config = load_config(settings_file('media:\n  voice: false\n  speech_model: ""\n  image_model: ""\n'))
    assert config.media.speech_model == "" and not config.media.images


def test_a_bad_media_model_stops_the_run_with_exit_2_before_anything_is_fetched(tmp_path, telegram, model, env):
    from botjob.cli import main

    (tmp_path / "botjob.yaml").write_text('media:\n  speech_model: ""\n', encoding="utf-8")
    code = main(["run", "--config", str(tmp_path / "botjob.yaml"), "--state-dir", str(tmp_path / "state")], env=env)
    assert code == 2 and telegram.calls == []


# ---------------------------------------------------------------------------- run.stay: a number of seconds, or auto


@pytest.mark.parametrize(("text", "stay"), [
    ("", "auto"),  # the default
    ("run:\n  stay: auto\n", "auto"),
    ("run:\n  stay: 0\n", 0),
    ("run:\n  stay: 90\n", 90),
    ("run:\n  stay: 12.5\n", 12.5),
])
def test_the_stay_is_a_number_of_seconds_or_auto(settings_file, text, stay):
    assert load_config(settings_file(text)).run.stay == stay


@pytest.mark.parametrize(("text", "says", "hint"), [
    ("run:\n  stay: forever\n", "must be a number of seconds (0 = off) or auto, not 'forever'", "stay: auto"),
    ("run:\n  stay: Auto\n", "must be a number of seconds (0 = off) or auto", "stay: auto"),
    ("run:\n  stay: off\n", "YAML read an unquoted word as false", "stay: 0 to turn it off"),
    ("run:\n  stay:\n", "must be a number of seconds (0 = off) or auto, not None", "stay: auto"),
    ("run:\n  stay: -5\n", "must be between 0 and 3600", "run.stay"),
    ("run:\n  stay: 480\n", "must be below 'run.time_budget' (480 s)", "lower run.stay"),
    ("run:\n  time_budget: 60\n  stay: 120\n", "must be below 'run.time_budget' (60 s)", "raise run.time_budget"),
])
def test_a_stay_that_cannot_work_is_refused_with_the_fix(settings_file, text, says, hint):
    error = config_error(settings_file(text))
    assert "'run.stay'" in str(error) and says in str(error) and hint in error.hint


@pytest.mark.parametrize(("event", "in_actions", "stay"), [
    ({"repository": {"private": False}}, True, 120),  # public: Actions minutes are free
    ({"repository": {"private": True}}, True, 0),  # private: every minute is billed
    ({"repository": {"name": "bot"}}, True, 0),  # no such field: cannot tell
    ({"schedule": "3-59/10 * * * *"}, True, 0),
    ("not json {", True, 0),
    (None, True, 0),  # GITHUB_EVENT_PATH names no file
    ({"repository": {"private": False}}, False, 0),  # not in Actions
])
def test_an_automatic_stay_is_on_in_public_repositories_only(tmp_path, env, event, in_actions, stay):
    import json

    from botjob.wiring import build_job

    path = tmp_path / "event.json"
    if event is not None:
        path.write_text(event if isinstance(event, str) else json.dumps(event), encoding="utf-8")
    github = {"GITHUB_EVENT_PATH": str(path), **({"GITHUB_ACTIONS": "true"} if in_actions else {})}

    assert build_job(Config(), {**env, **github}, tmp_path / "state").stay == stay
    owners = Config(run=RunSettings(stay=30))
    assert build_job(owners, {**env, **github}, tmp_path / "state").stay == 30  # an owner's number always wins
