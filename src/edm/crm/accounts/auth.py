"""Who may call which account operation; a handler's signature says it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from edm.kit.auth import Caller
from edm.server.deps import require_scopes

__all__ = ["READ_SCOPE", "WRITE_SCOPE", "ADMIN_SCOPE", "Authenticated", "AccountsRead", "AccountsWrite"]

READ_SCOPE = "crm.accounts.read"
WRITE_SCOPE = "crm.accounts.write"
ADMIN_SCOPE = "crm.admin"

Authenticated = Annotated[Caller, Depends(require_scopes())]  # the handler checks the scope itself
AccountsRead = Annotated[Caller, Depends(require_scopes(READ_SCOPE))]
AccountsWrite = Annotated[Caller, Depends(require_scopes(WRITE_SCOPE))]
