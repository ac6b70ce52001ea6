"""Who did it, as a user to store: the bottom of the stack, so the action log and every service share it."""

from __future__ import annotations


def actor_user(actor):
    """The actor as a user to store (None for the system: beat tasks, integrations, anonymous callers)."""
    return actor if getattr(actor, "pk", None) else None
