"""Admin for audit records: the record page, search, evidence."""
