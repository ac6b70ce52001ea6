"""Signals the action log sends, so apps above it can react to what was done without audit importing them."""

from django.dispatch import Signal

# Sent after each action-log entry is written, inside the transaction that wrote it: `entry`.
action_logged = Signal()

# Sent when the action log has something to tell the people who watch over it (a signed checkpoint, a
# broken chain), inside a transaction: `subject`, `body`, `dedup_prefix`. Each receiver returns how many
# messages it queued. The notification outbox sits above the action log, so it listens here
# (audit/notices.py) rather than being called from it.
action_log_notice = Signal()
