"""Issue 11 item 16: the OpenAPI document had a dangling `$ref` (`#/$defs/ClientStatus`, the `status`
query of GET /api/clients), so OpenAPI tools and fuzzers (schemathesis, code generators) failed on it or
skipped that filter. Attack: resolve every `$ref` of the served document the way those tools do, as a JSON
pointer into the document; validate it with openapi-spec-validator; and make the project's own fuzzer
(which now resolves refs the same way) draw every client status for the filter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, find, settings
from openapi_spec_validator import validate
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from bot.models import ClientStatus
from tests import test_api_fuzz as fuzz


@pytest.fixture
def slack_api_url() -> str:
    return "http://127.0.0.1:9/api/"


@pytest.fixture
async def document(app_url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{app_url}/api/openapi.json") as reply:
        assert reply.status == 200
        return await reply.json()


def refs(node: Any, where: str = "#") -> Iterator[tuple[str, str]]:
    """Every `$ref` in the document with the JSON pointer of the object holding it."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield where, value
            else:
                yield from refs(value, f"{where}/{key.replace('~', '~0').replace('/', '~1')}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from refs(value, f"{where}/{index}")


async def test_every_ref_in_the_openapi_document_resolves(document: dict[str, Any]) -> None:
    found = list(refs(document))
    assert len(found) > 50  # the walk does see the document's refs
    resolver = Registry().with_resource("urn:doc", DRAFT202012.create_resource(document)).resolver("urn:doc")
    dangling = []
    for where, ref in found:
        try:
            target = resolver.lookup(ref).contents
        except Exception as error:  # referencing.exceptions.Unresolvable and its kinds
            dangling.append(f"{where}: {ref} ({type(error).__name__})")
            continue
        if not isinstance(target, dict) or not target:
            dangling.append(f"{where}: {ref} points at {target!r}")
    assert dangling == []
    validate(document)  # openapi-spec-validator: the whole document is valid OpenAPI 3.1


async def test_the_fuzzer_exercises_the_client_status_filter(document: dict[str, Any]) -> None:
    operation = document["paths"]["/api/clients"]["get"]
    status = next(p["schema"] for p in operation["parameters"] if p["name"] == "status")
    strategy = fuzz.query_value(status, document)  # raises on a dangling $ref, as schemathesis does
    search = settings(max_examples=5000, database=None, suppress_health_check=list(HealthCheck))
    for value in ClientStatus:
        assert find(strategy, lambda drawn, value=value: drawn == value.value, settings=search) == value.value
