"""Exports of inspections for the people and systems outside the app: CSV for Excel, JSON Lines."""
