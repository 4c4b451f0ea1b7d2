"""Visits (现场检查): issuing, scheduling by risk grade, assignment and the state machine."""
