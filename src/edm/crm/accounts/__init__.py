"""Accounts: customer organizations (docs/accounts.md)."""
