"""Accounts: customer organizations (SPEC §1–§6)."""
