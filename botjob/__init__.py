"""botjob: a Telegram chatbot answered by a hosted language model, run as a batch job."""

__version__ = "0.1.0"
