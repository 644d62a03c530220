"""The scopes of the account operations (the routes table says which needs which)."""

from __future__ import annotations

__all__ = ["READ_SCOPE", "WRITE_SCOPE", "ADMIN_SCOPE"]

READ_SCOPE = "crm.accounts.read"
WRITE_SCOPE = "crm.accounts.write"
ADMIN_SCOPE = "crm.admin"
