"""Passing registered letters to internal units: routing rules, forwards, the units'
acceptances and returns, reminders."""
