"""Admin for the user report inbox."""
