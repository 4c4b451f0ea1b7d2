"""Checklist templates and their immutable published versions."""
