"""The bank's other systems as users: service accounts with API keys, and signed webhooks.

Importing the package registers the outbox's session hooks (events.py), so every process that touches the
database — the app, `tick`, the CLI, the tests — writes webhook events with its changes."""

from api.integrations import events as _events  # noqa: F401
