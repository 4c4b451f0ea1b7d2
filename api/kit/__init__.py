"""Helpers with no domain knowledge."""
