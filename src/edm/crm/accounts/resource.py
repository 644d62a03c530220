"""The Account: a customer organization, declared for the record engine.

Its own fields sit between the system fields every resource shares
(``edm.crm.engine.fields``); its hierarchy rules are hooks
(``edm.crm.accounts.hierarchy``).  The migrations in ``edm/migrations`` build
the table, the indexes declared here (SQLite keeps full b-tree equivalents and
an FTS5 trigram table for ``q``) and the counters' triggers.
"""

from __future__ import annotations

from edm.crm.accounts.hierarchy import Hierarchy
from edm.crm.engine import formats
from edm.crm.engine.fields import Field, text
from edm.crm.engine.resource import Index, Resource

__all__ = ["ACCOUNTS"]

# What each list order reads in order (tenant_id, key, id), and "my accounts" by the owner.
_SORTED = ("created_at", "updated_at", "name_key", "annual_revenue", "employee_count", "last_activity_at", "first_contacted_at")
# Equality filters whose filtered totals are index-only scans of live rows.
_FILTERED = ("lifecycle_stage", "industry", "domain")
INDEXES = (
    Index("accounts_tenant_parent", ("tenant_id", "parent_account_id")),
    *(Index(f"accounts_tenant_{column}", ("tenant_id", column, "id")) for column in _SORTED),
    *(Index(f"accounts_tenant_owner_{column}", ("tenant_id", "owner_id", column, "id")) for column in ("created_at", "updated_at")),
    *(Index(f"accounts_tenant_{column}_live", ("tenant_id", column), live_only=True) for column in _FILTERED),
    Index("accounts_tenant_live", ("tenant_id",), live_only=True),
    Index("accounts_tenant_tags", ("tenant_id", "tags"), gin=True),
    Index("accounts_tenant_custom_fields", ("tenant_id", "custom_fields"), gin=True),
    Index("accounts_search_tenant", ("search", "tenant_id"), gin=True),
)

ACCOUNTS = Resource(
    name="accounts",
    noun="account",
    title="Account",
    id_prefix="acc",
    sdk_group="customer",
    description="Customer organizations",
    own_fields=(
        text(
            "name",
            "The organization's display name (1–255 characters after trimming).",
            format=formats.TRIMMED_NAME,
            required=True,
            nullable=False,
            sortable=True,
            searchable=1,
            sort_key=str.casefold,  # sort=name ignores case, the same on every database
        ),
        text("legal_name", "The registered legal name.", searchable=2),
        text("industry", "Industry."),
        text("sub_industry", "Sub-industry."),
        text("lifecycle_stage", "Lifecycle stage, e.g. lead, customer."),
        text("lead_source", "Where the lead came from."),
        text("health_score", "Customer health score."),
        text("website", "Absolute http(s) URL.", max_length=2048, format=formats.URL, searchable=4),
        text(
            "domain",
            "Hostname, stored lower-case, without scheme, path or port.",
            max_length=253,
            format=formats.HOSTNAME,
            searchable=3,
        ),
        text("phone", "Digits, spaces and `+-().x`.", max_length=64, format=formats.PHONE),
        Field("addresses", "addresses", "client", "Up to 20 postal addresses.", default=()),
        Field("annual_revenue", "number", "client", "Annual revenue in USD (finite, ≥ 0).", filterable=True, sortable=True),
        Field("employee_count", "integer", "client", "Number of employees (≥ 0).", filterable=True, sortable=True),
        Field(
            "parent_account_id",
            "id",
            "client",
            "The parent account: same tenant, not itself, never a cycle.",
            format=formats.record_id("acc", "account"),
            filterable=True,
        ),
        Field("description", "string", "client", "Free text.", max_length=65536, filterable=True, searchable=5),
        Field("last_activity_at", "date-time", "client", "RFC 3339 with offset; stored in UTC.", filterable=True, sortable=True),
        Field("first_contacted_at", "date-time", "client", "RFC 3339 with offset; stored in UTC.", filterable=True, sortable=True),
    ),
    hooks=Hierarchy(),
    counted=True,
    sqlite_search_table=True,
    indexes=INDEXES,
    create_example={
        "name": "Globex",
        "domain": "globex.example",
        "industry": "Manufacturing",
        "tags": ["b2b", "emea"],
        "custom_fields": {"tier": "gold"},
    },
    patch_example={"industry": "Retail", "custom_fields": {"tier": "platinum"}, "tags": None},
)
