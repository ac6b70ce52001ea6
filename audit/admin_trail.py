"""Admin for redaction rules and deletion orders."""
