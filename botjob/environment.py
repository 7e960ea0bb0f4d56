"""The environment an owner sets: the bot token and the services' addresses, read and checked once.

Standard library only: ``peek`` runs it on the runner's bare python3. Secrets
and addresses pasted with a trailing newline or spaces are trimmed (and the
CLI warns once); values that cannot work are settings errors, never a
"passing trouble" that the next run would meet again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from .errors import ConfigError
from .redaction import ADDRESS_VARIABLES, SECRET_VARIABLES

DEFAULT_API_URL = "https://api.telegram.org"
SECRETS_PAGE = "Settings → Secrets and variables → Actions"

# Bot tokens are "<digits>:<letters, digits, - and _>"; other Bot API servers may hand out other
# shapes, so only what can never sit in a URL path is refused: spaces, controls, / ? # %.
_NOT_IN_A_TOKEN = re.compile(r"[\s/?#%]|[^\x21-\x7e]")
# HF_TOKEN goes in an Authorization header: a bearer token is printable ASCII without spaces.
_NOT_IN_A_BEARER_TOKEN = re.compile(r"[^\x21-\x7e]")
# Far below every real token (Telegram's "<bot id>:<35 characters>" is over 40; Hugging Face's, "hf_"
# and 34 letters, 37), so a Bot API server with other shapes and the key of the owner's own model
# server still pass; what is shorter is a placeholder or a paste cut short, easy to guess from the
# log around it, and it would garble the log it is starred out of.
MIN_TOKEN_LENGTH = 16
_BOT_PATH = re.compile(r"/bot[^/]*/?$")  # an address that already ends in Telegram's /bot<token> part


def how_to_set(env: Mapping[str, str], name: str, value: str) -> str:
    """How the owner gives botjob a secret where it runs now: a repository secret inside GitHub Actions,
    an ``export`` in the shell anywhere else."""
    if env.get("GITHUB_ACTIONS") == "true":
        return f"add {value} as the repository secret {name} ({SECRETS_PAGE})"
    return f"export {name}=<{value}> in this shell (in GitHub Actions: the repository secret {name})"


def bot_token(env: Mapping[str, str]) -> str:
    token = env.get("TELEGRAM_BOT_TOKEN", "").strip()
    if not token:
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN is not set",
            hint="create a bot with @BotFather, then " + how_to_set(env, "TELEGRAM_BOT_TOKEN", "its token"),
        )
    if _NOT_IN_A_TOKEN.search(token):
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN holds spaces or characters a bot token never has",
            hint="copy the token again from @BotFather (/token) and paste it alone, without quotes or other text",
        )
    if len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"TELEGRAM_BOT_TOKEN is too short to be a bot token (at least {MIN_TOKEN_LENGTH} characters; "
            "@BotFather's look like 123456789:AA... and are over 40)",
            hint="copy the whole token again from @BotFather (/token) and paste it alone",
        )
    return token


def hf_token(env: Mapping[str, str]) -> str | None:
    """HF_TOKEN, or None when unset. One that cannot work is refused at once: with a line break inside,
    every model call fails while the runs stay green, answering nobody."""
    token = env.get("HF_TOKEN", "").strip()
    if not token:
        return None
    if _NOT_IN_A_BEARER_TOKEN.search(token):
        raise ConfigError(
            "HF_TOKEN holds spaces, a line break or characters a token never has",
            hint="copy the token again from huggingface.co/settings/tokens and paste it alone, without quotes or other text",
        )
    if len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"HF_TOKEN is too short to be a token (at least {MIN_TOKEN_LENGTH} characters; Hugging Face's are "
            "hf_ and 34 more)",
            hint="copy the whole token again from huggingface.co/settings/tokens; a key for your own model server "
            f"must be as long (e.g. from {STATE_KEY_RECIPE})",
        )
    return token


MIN_STATE_KEY_LENGTH = 16
STATE_KEY_RECIPE = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


def state_key(env: Mapping[str, str]) -> str:
    """BOTJOB_STATE_KEY, or "" when unset; a key short enough to guess from the public files is refused."""
    key = env.get("BOTJOB_STATE_KEY", "").strip()
    if key and len(key) < MIN_STATE_KEY_LENGTH:
        raise ConfigError(
            f"BOTJOB_STATE_KEY is too short to keep state/ private ({len(key)} characters, at least {MIN_STATE_KEY_LENGTH})",
            hint=f"set it to a long random string, e.g. from {STATE_KEY_RECIPE} (memory kept under the old key is then forgotten)",
        )
    return key


def telegram_api_url(env: Mapping[str, str]) -> str:
    url = env.get("TELEGRAM_API_URL", "").strip() or DEFAULT_API_URL
    check_address("TELEGRAM_API_URL", url, example=DEFAULT_API_URL)
    if _BOT_PATH.search(urlsplit(url).path):
        # botjob adds "/bot<token>/<method>" itself: a pasted ".../bot" or ".../bot<token>" would be doubled,
        # and Telegram's 404 for that reads like a bad token.
        raise ConfigError(
            "TELEGRAM_API_URL ends in /bot…: it must be the Bot API server's address alone",
            hint=f"remove /bot and what follows, e.g. {DEFAULT_API_URL} (botjob adds /bot<token>/ itself)",
        )
    return url


def model_url(env: Mapping[str, str], configured: str = "") -> str:
    """The model endpoint: BOTJOB_LLM_URL, else llm.base_url, else "" (Hugging Face's routing)."""
    from_env = env.get("BOTJOB_LLM_URL", "").strip()
    url = from_env or configured.strip()
    if url:
        check_address("BOTJOB_LLM_URL" if from_env else "llm.base_url", url, example="http://localhost:8080")
    return url


def check_address(name: str, url: str, *, example: str) -> None:
    """An address must be http(s) with a host; the value is not repeated, as it may carry a key."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{name} is not an http:// or https:// address with a host",
            hint=f"write the whole address, scheme included, e.g. {example}",
        )


def padded_variables(env: Mapping[str, str]) -> list[str]:
    """Secrets and addresses with spaces or a line break around them (trimmed when used)."""
    return [name for name in (*SECRET_VARIABLES, *ADDRESS_VARIABLES) if env.get(name, "") != env.get(name, "").strip()]
