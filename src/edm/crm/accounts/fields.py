# TEMPORARY shim until the generated SDK lands (do not commit)
from edm.crm.accounts.resource import ACCOUNTS
from edm.crm.engine.fields import ADDRESS_KEYS, ADDRESS_TYPES, SOURCE_TYPES, Field  # noqa
FIELDS = ACCOUNTS.fields
CLIENT_FIELDS = ACCOUNTS.client_fields
