"""Signals the action log sends, so apps above it can react to what was done without audit importing them."""

from django.dispatch import Signal

# Sent after each action-log entry is written, inside the transaction that wrote it: `entry`.
action_logged = Signal()
