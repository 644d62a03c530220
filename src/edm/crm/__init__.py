"""CRM domains."""
