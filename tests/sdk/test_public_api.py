"""The SDK's public surface: names, signatures and models that must not drift from the API manifest."""

from __future__ import annotations

import inspect
import pickle
import typing
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

import edm
import edm.sdk
from edm import NOT_GIVEN
from edm.codegen.sdk import KINDS
from edm.crm.manifest import build_manifest
from edm.sdk import errors
from edm.sdk._query import encode_value, filter_params
from edm.sdk.models import ACCOUNT_FIELD_TYPES, AddressParam, AddressType, SourceType
from edm.sdk.resources.customer.accounts import Accounts, AsyncAccounts

# The SDK is compared with the manifest (what the server says it offers), not with the server's own tables.
ACCOUNTS = next(resource for resource in build_manifest()["resources"] if resource["name"] == "accounts")
FIELDS: list[dict[str, typing.Any]] = ACCOUNTS["fields"]
BY_NAME = {f["name"]: f for f in FIELDS}
CLIENT_FIELD_NAMES = {f["name"] for f in FIELDS if f["writer"] == "client"}
ADDRESS_KEYS = tuple(BY_NAME["addresses"]["limits"]["item_keys"])
ADDRESS_TYPES = tuple(BY_NAME["addresses"]["limits"]["address_types"])
SOURCE_TYPES = tuple(BY_NAME["source_type"]["limits"]["enum"])

CALL_OPTIONS = {"extra_headers", "timeout"}


def test_edm_all_is_what_we_mean() -> None:
    assert edm.__all__ == [
        "__version__",
        "Client",
        "AsyncClient",
        "NOT_GIVEN",
        "NotGiven",
        "Account",
        "AccountEvent",
        "AccountHistoryEntry",
        "Address",
        "WebhookEndpoint",
        "WebhookDelivery",
        "WebhookAttempt",
        "SyncPage",
        "AsyncPage",
        "AsyncPaginator",
        "EventStream",
        "AsyncEventStream",
        "EDMError",
        "APIError",
        "APIConnectionError",
        "APITimeoutError",
        "APIStatusError",
        "BadRequestError",
        "AuthenticationError",
        "PermissionDeniedError",
        "NotFoundError",
        "ConflictError",
        "PreconditionFailedError",
        "UnprocessableEntityError",
        "PreconditionRequiredError",
        "RateLimitError",
        "InternalServerError",
        "ErrorDetail",
        "webhooks",
    ]
    assert set(edm.__all__) - {"__version__"} == set(edm.sdk.__all__)
    for name in edm.__all__:
        assert getattr(edm, name) is getattr(edm.sdk, name, edm.__version__)


def keyword_parameters(method: object) -> dict[str, inspect.Parameter]:
    parameters = dict(inspect.signature(method).parameters)  # type: ignore[arg-type]
    parameters.pop("self")
    return parameters


@pytest.mark.parametrize("resource", [Accounts, AsyncAccounts])
def test_create_and_update_take_exactly_the_client_writable_fields(resource: type) -> None:
    create = keyword_parameters(resource.create)
    assert set(create) - CALL_OPTIONS - {"idempotency_key"} == CLIENT_FIELD_NAMES
    update = keyword_parameters(resource.update)
    assert list(update)[0] == "account_id"
    assert set(update) - CALL_OPTIONS - {"account_id", "if_version"} == CLIENT_FIELD_NAMES

    for name in CLIENT_FIELD_NAMES:
        assert create[name].kind is inspect.Parameter.KEYWORD_ONLY and update[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert update[name].default is NOT_GIVEN
        required = BY_NAME[name]["required_on_create"]
        assert (create[name].default is inspect.Parameter.empty) is required, name


def test_every_method_has_one_shape_and_async_twins_match() -> None:
    methods = ["list", "get", "create", "update", "delete", "restore", "purge"]
    for name in methods:
        sync, async_ = inspect.signature(getattr(Accounts, name)), inspect.signature(getattr(AsyncAccounts, name))
        assert list(sync.parameters) == list(async_.parameters), name
        assert [p.default for p in sync.parameters.values()] == [p.default for p in async_.parameters.values()], name
        parameters = list(sync.parameters.values())[1:]
        positional = [p.name for p in parameters if p.kind is not inspect.Parameter.KEYWORD_ONLY]
        assert positional == ([] if name in ("list", "create") else ["account_id"]), name
        assert CALL_OPTIONS <= {p.name for p in parameters}, name
        assert inspect.iscoroutinefunction(getattr(AsyncAccounts, name)) is (name != "list")
    for name in ("update", "delete", "restore", "purge"):
        assert "if_version" in inspect.signature(getattr(Accounts, name)).parameters
    assert list(keyword_parameters(Accounts.list)) == [
        "limit", "sort", "filter", "q", "fields", "include_deleted", "include_total", "cursor", "extra_headers", "timeout"
    ]


def test_client_signatures_are_twins() -> None:
    sync, async_ = inspect.signature(edm.Client), inspect.signature(edm.AsyncClient)
    assert list(sync.parameters) == list(async_.parameters) == [
        "base_url", "token", "timeout", "max_retries", "http_client", "default_headers"
    ]
    assert sync.parameters["timeout"].default == 30.0 and sync.parameters["max_retries"].default == 2


def test_account_model_is_generated_from_the_manifest() -> None:
    assert list(edm.Account.model_fields) == [f["name"] for f in FIELDS]
    for field in FIELDS:
        info = edm.Account.model_fields[field["name"]]
        assert info.default is None and field["description"] in (info.description or "")
        assert typing.get_args(info.annotation)[0] == ACCOUNT_FIELD_TYPES[field["kind"]], field["name"]
    assert {f["kind"] for f in FIELDS} <= set(ACCOUNT_FIELD_TYPES) == set(KINDS)
    assert tuple(edm.Address.model_fields) == ADDRESS_KEYS == tuple(AddressParam.__annotations__)
    assert typing.get_args(SourceType) == SOURCE_TYPES and typing.get_args(AddressType) == ADDRESS_TYPES


def test_account_parses_server_json_and_tolerates_unknown_keys() -> None:
    account = edm.Account.model_validate(
        {
            "id": "acc_01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "name": "Globex",
            "created_at": "2026-11-27T07:00:00.123Z",
            "addresses": [{"type": "billing", "city": "Berlin", "po_box": "7"}],
            "version": 3,
            "a_field_from_the_future": {"x": 1},
        }
    )
    assert account.created_at == datetime(2026, 11, 27, 7, 0, 0, 123000, tzinfo=UTC)
    assert account.addresses[0].city == "Berlin" and account.addresses[0].model_extra == {"po_box": "7"}
    assert account.model_extra == {"a_field_from_the_future": {"x": 1}}
    assert account.model_fields_set == {"id", "name", "created_at", "addresses", "version", "a_field_from_the_future"}
    assert "Globex" in repr(account) and "legal_name" not in repr(account)


def test_not_given_sentinel() -> None:
    assert not NOT_GIVEN and repr(NOT_GIVEN) == "NOT_GIVEN"
    assert edm.NotGiven() is NOT_GIVEN and pickle.loads(pickle.dumps(NOT_GIVEN)) is NOT_GIVEN


def test_filter_dict_becomes_filter_parameters() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=2)))
    params = filter_params(
        {
            "industry": "Software",
            "annual_revenue": {"gte": 1000, "lt": 2.5},
            "tags": {"any": ["a", "b"]},
            "custom_fields.tier": "gold",
            "parent_account_id": {"under": "acc_01ARZ3NDEKTSV4RRFFQ69G5FAV"},
            "is_deleted": False,
            "owner_id": {"exists": True},
            "updated_at": {"gt": when},
            "lifecycle_stage": {"nin": ("lead", "prospect")},
        }
    )
    assert params == [
        ("filter[industry]", "Software"),
        ("filter[annual_revenue][gte]", "1000"),
        ("filter[annual_revenue][lt]", "2.5"),
        ("filter[tags][any]", "a,b"),
        ("filter[custom_fields.tier]", "gold"),
        ("filter[parent_account_id][under]", "acc_01ARZ3NDEKTSV4RRFFQ69G5FAV"),
        ("filter[is_deleted]", "false"),
        ("filter[owner_id][exists]", "true"),
        ("filter[updated_at][gt]", "2026-01-02T01:04:05.678Z"),
        ("filter[lifecycle_stage][nin]", "lead,prospect"),
    ]
    with pytest.raises(TypeError, match="exists"):
        filter_params({"owner_id": None})
    with pytest.raises(ValueError):
        encode_value(float("nan"))


def test_error_tree_and_status_mapping() -> None:
    assert issubclass(edm.APIError, edm.EDMError)
    assert issubclass(edm.APITimeoutError, edm.APIConnectionError) and issubclass(edm.APIConnectionError, edm.APIError)
    request = httpx.Request("GET", "http://edm.example/api/v1/crm/accounts")
    expected = {
        400: edm.BadRequestError, 401: edm.AuthenticationError, 403: edm.PermissionDeniedError,
        404: edm.NotFoundError, 409: edm.ConflictError, 412: edm.PreconditionFailedError,
        422: edm.UnprocessableEntityError, 428: edm.PreconditionRequiredError, 429: edm.RateLimitError,
        500: edm.InternalServerError, 502: edm.InternalServerError, 503: edm.InternalServerError,
        413: edm.APIStatusError, 415: edm.APIStatusError,
    }
    for status, cls in expected.items():
        response = httpx.Response(status, text="<html>proxy error</html>", headers={"X-Request-Id": "r-1"}, request=request)
        error = errors.make_status_error(response)
        assert type(error) is cls and isinstance(error, edm.APIStatusError)
        assert error.status_code == status and error.request_id == "r-1" and error.code is None
        assert error.body == "<html>proxy error</html>" and error.errors == [] and error.current_version is None
    for name in edm.__all__:
        obj = getattr(edm, name)
        if isinstance(obj, type) and issubclass(obj, edm.EDMError) and obj not in (edm.EDMError, edm.APIError):
            assert obj.__name__ in errors.__doc__, f"{obj.__name__} is missing from the tree in errors' docstring"
