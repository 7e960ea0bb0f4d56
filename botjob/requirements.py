"""What requirements.txt installs, by import name (and what those bring along): an ImportError of
one of these is a missing install, not a bug. Read by the CLI and the demo's pre-check."""

REQUIREMENTS = (
    "requests", "yaml", "huggingface_hub", "cronsim", "cryptography", "telegramify_markdown", "PIL",
    "httpx2", "urllib3", "certifi", "pyromark",
)
