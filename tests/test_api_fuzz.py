"""Property-based run against /api/openapi.json: bodies generated from each operation's schema (valid and
invalid) and arbitrary JSON must never produce a 5xx."""

from __future__ import annotations

import json
import warnings
from typing import Any

import aiohttp
import pytest
from hypothesis import strategies as st
from hypothesis.errors import NonInteractiveExampleWarning

from bot.models import Role
from bot.services import api_tokens, jobs
from tests import factories

EXAMPLES = 20
JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)


@pytest.fixture
def slack_api_url() -> str:
    return "http://127.0.0.1:9/api/"


def from_schema(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> st.SearchStrategy:
    """Values shaped by a JSON schema (types, enums, refs, nesting), mixed with wrong types now and then."""
    if "$ref" in schema:
        return from_schema(components[schema["$ref"].rsplit("/", 1)[-1]], components, depth)
    if "enum" in schema:
        return st.sampled_from(schema["enum"]) | JUNK
    if "anyOf" in schema:
        return st.one_of([from_schema(option, components, depth) for option in schema["anyOf"]])
    kind = schema.get("type")
    if kind == "object" and depth < 3:
        properties = schema.get("properties", {})
        return st.fixed_dictionaries(
            {}, optional={k: from_schema(v, components, depth + 1) for k, v in properties.items()}
        )
    if kind == "array" and depth < 3:
        return st.lists(from_schema(schema.get("items", {}), components, depth + 1), max_size=3)
    basic = {
        "string": st.text(max_size=60)
        | st.sampled_from(
            ["2026-Q3", "2026-01-01T10:00:00", "a@b.co", "CLT-2026-0001", "FUZZ-1", "meeting", "x" * 600]
        ),
        "integer": st.integers(-10, 10) | st.integers(),
        "number": st.floats(allow_nan=False) | st.integers(),
        "boolean": st.booleans(),
        "null": st.none(),
    }
    return basic.get(kind, JUNK) | JUNK


def draw(strategy: st.SearchStrategy, count: int) -> list[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonInteractiveExampleWarning)
        return [strategy.example() for _ in range(count)]


async def test_no_5xx_for_any_body_from_the_schema(app_url: str, rt) -> None:
    async with rt.db.session() as session:
        manager = await factories.user(session, "UMANAGER", Role.MANAGER)
        acme = await factories.client(session, manager, "Fuzz Target")
        await jobs.create_job(
            session,
            actor=manager,
            data=jobs.parse_job({"reference": "FUZZ-1", "title": "T", "client_id": acme.client_code}),
        )
        token, _ = await api_tokens.create(session, name="fuzz", role=Role.ADMIN)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{app_url}/api/openapi.json") as response:
            assert response.status == 200
            document = await response.json()
        components = document["components"]["schemas"]
        headers = {"Authorization": f"Bearer {token}"}
        failures = []
        for path, operations in document["paths"].items():
            url = app_url + path.format(
                client_id=acme.client_code,
                job_id="FUZZ-1",
                application_id="00000000-0000-0000-0000-000000000000",
                comm_id="00000000-0000-0000-0000-000000000000",
            )
            for method, operation in operations.items():
                schema = (
                    operation.get("requestBody", {})
                    .get("content", {})
                    .get("application/json", {})
                    .get("schema")
                )
                bodies = draw(JUNK, 5)
                if schema is not None:
                    bodies += draw(from_schema(schema, components), EXAMPLES)
                for body in bodies:
                    async with http.request(
                        method.upper(), url, data=json.dumps(body), headers=headers
                    ) as reply:
                        if reply.status >= 500:
                            failures.append((method, path, body, await reply.text()))
        assert failures == [], failures[:3]
