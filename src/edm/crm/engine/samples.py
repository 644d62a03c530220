"""Code samples (curl and Python) of a resource's operations, for the API reference.

They are generated from the resource's declaration (paths, SDK names, the
create and patch examples), so every resource gets them for free.  Both read
the server and the token from the environment, the variables the SDK reads::

    export EDM_BASE_URL=http://127.0.0.1:8000
    export EDM_TOKEN=$(edm token --tenant acme --sub me)

``tests/test_code_samples.py`` runs each one against a live server.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from edm.crm.engine.resource import Resource

__all__ = ["ENVIRONMENT_NOTE", "curl", "example_id", "resource_samples", "sample"]

ENVIRONMENT_NOTE = (
    "The code samples read the server's URL and a token from `EDM_BASE_URL` and `EDM_TOKEN`, "
    "the variables the Python SDK reads: `export EDM_BASE_URL=http://127.0.0.1:8000 "
    "EDM_TOKEN=$(edm token --tenant acme --sub me)`."
)
_AUTH = '-H "Authorization: Bearer $EDM_TOKEN"'
_CLIENT = "import edm\n\nclient = edm.Client()  # EDM_BASE_URL, EDM_TOKEN\n"


def example_id(resource: Resource) -> str:
    """The record id the samples use: well-formed, so a pasted sample answers 404, not 400."""
    return f"{resource.id_prefix}_01JBX5T9Q3ZK8M2N4P6R7S9V0W"


def sample(label: str, source: str) -> dict[str, str]:
    """One entry of Redoc's ``x-codeSamples``."""
    lang = "Python" if label.startswith("Python") else "Shell"
    return {"lang": lang, "label": label, "source": source}


def curl(method: str, path: str, *options: str, query: str = "") -> str:
    """A curl command, one option a line; ``path`` is appended to ``$EDM_BASE_URL``."""
    sends_data = any(option.startswith(("-d ", "--data")) for option in options)
    verb = ("-G " if sends_data else "") if method == "GET" else f"-X {method} "
    lines = [f'curl -sS {verb}"$EDM_BASE_URL{path}{query}"', *options]
    return " \\\n  ".join(lines)


def _py(value: Any) -> str:
    """A JSON-like value as Python source."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_py(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_py(k)}: {_py(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _call(target: str, *positional: str, **keywords: Any) -> str:
    """``target(...)``, one argument a line when there are keywords."""
    arguments = [*positional, *(f"{k}={_py(v)}" for k, v in keywords.items())]
    if not keywords:
        return f"{target}({', '.join(arguments)})"
    return f"{target}(\n" + "".join(f"    {a},\n" for a in arguments) + ")"


def _list_filter(resource: Resource) -> dict[str, Any]:
    """A filter the create example matches: its tags (any) and its first custom field."""
    example = resource.create_example
    found: dict[str, Any] = {}
    if example.get("tags"):
        found["tags"] = {"any": list(example["tags"])}
    for key, value in dict(example.get("custom_fields") or {}).items():
        if isinstance(value, str):
            found[f"custom_fields.{key}"] = value
            break
    return found


def _query_options(filters: dict[str, Any]) -> list[str]:
    options = []
    for name, condition in filters.items():
        op, value = next(iter(condition.items())) if isinstance(condition, dict) else (None, condition)
        text = ",".join(value) if isinstance(value, list) else str(value)
        options.append("--data-urlencode " + shlex.quote(f"filter[{name}]" + (f"[{op}]" if op else "") + f"={text}"))
    return options


def resource_samples(resource: Resource) -> dict[str, list[dict[str, str]]]:
    """The samples of each SDK method of the resource (list, create, get, update, delete, purge, restore, history, events)."""
    sdk, noun, path = resource.sdk, resource.noun, resource.path
    item = f"{path}/{example_id(resource)}"
    quoted_id = json.dumps(example_id(resource))
    json_body = shlex.quote(json.dumps(dict(resource.create_example), ensure_ascii=False))
    patch_body = shlex.quote(json.dumps(dict(resource.patch_example), ensure_ascii=False))
    filters = _list_filter(resource)
    curls = {
        "list": curl("GET", path, _AUTH, *_query_options(filters), "-d limit=20"),
        "create": curl("POST", path, _AUTH, '-H "Content-Type: application/json"', f"-d {json_body}"),
        "get": curl("GET", item, _AUTH),
        "update": curl("PATCH", item, _AUTH, '-H "Content-Type: application/merge-patch+json"', f"-d {patch_body}"),
        "delete": curl("DELETE", item, _AUTH),
        "purge": curl("DELETE", item, _AUTH, query="?purge=true"),
        "restore": curl("POST", item + "/restore", _AUTH),
        "history": curl("GET", item + "/history", _AUTH),
        # From the first event: a consumer adds `-d after=<the next_cursor it saved>` (docs/changes.md).
        "events": curl("GET", path + "/events", _AUTH, "-d limit=100"),
    }
    one = f"{noun} = "
    pythons = {
        "list": f"page = {_call(f'{sdk}.list', filter=filters, limit=20) if filters else f'{sdk}.list(limit=20)'}\n"
        f"for {noun} in page:  # every page, fetched as needed\n    print({noun}.id, {noun}.version)\n",
        "create": one + _call(f"{sdk}.create", **resource.create_example) + f"\nprint({noun}.id)\n",
        "get": one + _call(f"{sdk}.get", quoted_id) + f"\nprint({noun}.id, {noun}.version)\n",
        "update": one + _call(f"{sdk}.update", quoted_id, **resource.patch_example) + f"\nprint({noun}.id, {noun}.version)\n",
        "delete": _call(f"{sdk}.delete", quoted_id) + "\n",
        "purge": _call(f"{sdk}.purge", quoted_id) + "  # needs the crm.admin scope\n",
        "restore": one + _call(f"{sdk}.restore", quoted_id) + f"\nprint({noun}.id, {noun}.version)\n",
        "history": f"for entry in {_call(f'{sdk}.history', quoted_id)}:  # newest first, every page\n"
        "    print(entry.version, entry.op, entry.by, entry.changes)\n",
        "events": f"events = {sdk}.events()  # from the first event; after=<a saved cursor> resumes\n"
        "for event in events:  # every page, fetched as needed (follow=True waits for new events)\n"
        f"    print(event.type, event.{resource.id_parameter}, event.version)\n"
        "print(events.cursor)  # save it: where to resume\n",
    }
    return {name: [sample("curl", curls[name]), sample("Python", _CLIENT + pythons[name])] for name in curls}
