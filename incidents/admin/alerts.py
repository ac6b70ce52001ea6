"""Admin for the alert inbox and routing rules."""
