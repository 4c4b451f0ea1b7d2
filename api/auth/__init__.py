"""Branches, users, passwords and tokens."""
