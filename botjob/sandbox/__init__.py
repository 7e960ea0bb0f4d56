"""Local stand-ins for the Telegram Bot API, a model server and GitHub's list of workflow runs,
serving real HTTP on 127.0.0.1.
Independent of the rest of botjob on purpose: it checks the bot from the outside. ``media`` holds
the helpers the Telegram and model stand-ins share (a valid PNG, image sizes, and the made-up audio the model sandbox transcribes).

What each one models of the real service, and what it leaves out, is a table in the README's
Development section: read it before trusting a green test about a behaviour it leaves out."""
from .github_server import GitHubSandbox
from .model_server import ModelSandbox
from .telegram_server import TelegramSandbox

__all__ = ["GitHubSandbox", "ModelSandbox", "TelegramSandbox"]
