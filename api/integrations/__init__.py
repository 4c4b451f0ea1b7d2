"""The bank's other systems as users: service accounts with API keys, and signed webhooks."""
