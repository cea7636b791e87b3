"""Property-based run against /api/openapi.json: for every operation, hypothesis fuzzes the path
parameters, the query parameters and the body (valid and invalid, text with NUL and other awkward
unicode) and the API must never answer 5xx. Runs on whichever database the fixtures use (PostgreSQL in
CI via TEST_DATABASE_URL, where NUL bytes in text would crash a query that let them through).

Hypothesis drives a plain blocking HTTP client in a worker thread while the app serves on the test's
event loop, so each example is a real request and a failure shrinks to a minimal one.
`FUZZ_EXAMPLES` sets the examples per operation (default 40); `FUZZ_ONLY` picks operations by id."""

from __future__ import annotations

import asyncio
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from bot.models import Role
from bot.services import api_tokens, jobs
from tests import factories

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
ONLY = os.environ.get("FUZZ_ONLY", "")  # comma-separated operationIds, to dig into some
AWKWARD = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "ü",
    "𝔘𝔫𝔦",
    "\u202eevil",
    "\ufeff",
    "日本語",
    "%",
    "_",
    "\\",
    "'; DROP TABLE clients; --",
    "x" * 600,
    "-1",
    "0",
    "99999999999999999999",
    "true",
    "null",
    "2026-Q3",
    "2026-13-45",
    "2026-01-01T10:00:00",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01",
    "9999-12-31",
    "a@b.co",
]
TEXT = st.text(max_size=40) | st.sampled_from(AWKWARD) | st.text(alphabet=st.sampled_from("a\x00ü€𝔘/ %"))
JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)


@pytest.fixture
def slack_api_url() -> str:
    return "http://127.0.0.1:9/api/"


def resolve(ref: str, document: dict[str, Any]) -> dict[str, Any]:
    """A `$ref` looked up as a JSON pointer in the whole document, as fuzzers and code generators do
    (referencing, the library behind jsonschema): a dangling one raises instead of being guessed by name."""
    root = DRAFT202012.create_resource(document)
    return (
        Registry()
        .with_resource("urn:clientbot:openapi", root)
        .resolver("urn:clientbot:openapi")
        .lookup(ref)
        .contents
    )


def from_schema(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> st.SearchStrategy:
    """Values shaped by a JSON schema (types, enums, consts, refs, unions, nesting), mixed with wrong types
    and awkward text now and then. `components` is the whole OpenAPI document, where `$ref`s point."""
    if "$ref" in schema:
        return from_schema(resolve(schema["$ref"], components), components, depth)
    if "const" in schema:
        return st.just(schema["const"]) | JUNK
    if "enum" in schema:
        return st.sampled_from(schema["enum"]) | JUNK
    for union in ("anyOf", "oneOf", "allOf"):
        if union in schema:
            return st.one_of([from_schema(option, components, depth) for option in schema[union]])
    kind = schema.get("type")
    if kind == "object" and depth < 4:
        properties = schema.get("properties", {})
        required = set(schema.get("required", []))
        strategies = {k: from_schema(v, components, depth + 1) for k, v in properties.items()}
        shaped = st.fixed_dictionaries(
            {k: s for k, s in strategies.items() if k in required},
            optional={k: s for k, s in strategies.items() if k not in required},
        )
        return shaped | st.dictionaries(TEXT, JUNK, max_size=3)
    if kind == "array" and depth < 4:
        return st.lists(from_schema(schema.get("items", {}), components, depth + 1), max_size=3)
    basic = {
        "string": TEXT,
        "integer": st.integers(-10, 10) | st.integers(),
        "number": st.floats(allow_nan=False) | st.integers(),
        "boolean": st.booleans(),
        "null": st.none(),
    }
    return basic.get(kind, JUNK) | JUNK


def query_value(schema: dict[str, Any], components: dict[str, Any]) -> st.SearchStrategy:
    """A query string value: what the schema suggests, as text, or any text at all."""
    as_text = from_schema(schema, components).map(
        lambda v: v if isinstance(v, str) else json.dumps(v) if not isinstance(v, bool) else str(v).lower()
    )
    return as_text | TEXT


def request(method: str, url: str, token: str, body: bytes | None, content_type: str) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if body is not None:
        headers["Content-Type"] = content_type
    call = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(call, timeout=60) as reply:
            return reply.status, reply.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def multipart(filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    quoted = filename.replace("\\", "\\\\").replace('"', '\\"')
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{quoted}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode("utf-8", errors="surrogatepass")
    return head + content + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def fuzz_operation(
    base: str,
    token: str,
    path: str,
    method: str,
    operation: dict[str, Any],
    components: dict[str, Any],
    known: dict[str, list[str]],
) -> None:
    """One hypothesis run for one operation; raises with the (shrunk) failing request."""
    names = re.findall(r"{(\w+)}", path)
    path_values = st.fixed_dictionaries(
        {name: st.sampled_from(known.get(name) or ["x"]) | TEXT | st.uuids().map(str) for name in names}
    )
    declared = {p["name"]: p["schema"] for p in operation.get("parameters", []) if p["in"] == "query"}
    query = st.fixed_dictionaries(
        {}, optional={name: query_value(schema, components) for name, schema in declared.items()}
    ) | st.dictionaries(TEXT, TEXT, max_size=3)
    content = operation.get("requestBody", {}).get("content", {})
    if "multipart/form-data" in content:
        body = st.tuples(
            TEXT, st.binary(max_size=64) | st.sampled_from([b"%PDF-1.4\n%%EOF", b"MZ\x90\x00"])
        ).map(lambda part: multipart(*part)) | JUNK.map(
            lambda v: (json.dumps(v).encode(), "application/json")
        )
    else:
        schema = content.get("application/json", {}).get("schema")
        shaped = from_schema(schema, components) if schema else st.nothing()
        body = (
            (shaped | JUNK).map(lambda v: (json.dumps(v).encode(), "application/json"))
            | st.binary(max_size=30).map(lambda b: (b, "application/json"))
            | st.none()
        )

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=False,
    )
    @given(path_values, query, body)
    def check(params: dict[str, str], args: dict[str, str], payload: tuple[bytes, str] | None) -> None:
        url = base + path.format(**{k: urllib.parse.quote(v, safe="") for k, v in params.items()})
        if args:
            url += "?" + urllib.parse.urlencode(args, quote_via=urllib.parse.quote)
        data, kind = payload if payload is not None else (None, "")
        status, text = request(method.upper(), url, token, data, kind)
        assert status < 500, f"{method.upper()} {url} -> {status}: {text[:300]}"
        if status >= 400:
            error = json.loads(text)["error"]
            assert {"code", "message", "fields"} <= set(error), text

    check()


async def api_call(http: aiohttp.ClientSession, base: str, token: str, path: str, body: dict) -> dict:
    async with http.post(base + path, json=body, headers={"Authorization": f"Bearer {token}"}) as reply:
        assert reply.status < 300, await reply.text()
        return await reply.json()


async def test_no_5xx_for_any_path_query_or_body(app_url: str, rt) -> None:
    async with rt.db.session() as session:
        manager = await factories.user(session, "UMANAGER", Role.MANAGER)
        acme = await factories.client(session, manager, "Fuzz Target")
        job = await jobs.create_job(
            session,
            actor=manager,
            data=jobs.parse_job({"reference": "FUZZ-1", "title": "T", "client_id": acme.client_code}),
        )
        token, _ = await api_tokens.create(session, name="fuzz", role=Role.ADMIN)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{app_url}/api/openapi.json") as response:
            assert response.status == 200
            document = await response.json()
        comm = await api_call(
            http,
            app_url,
            token,
            f"/api/clients/{acme.client_code}/communications",
            {"communication_type": "call", "communication_date": "2026-03-02T10:00:00Z", "subject": "Fuzz"},
        )
        candidate = await api_call(
            http, app_url, token, "/api/candidates", {"full_name": "F", "email": "f@z.co"}
        )
        application = await api_call(
            http, app_url, token, "/api/applications", {"job_id": "FUZZ-1", "candidate_id": candidate["id"]}
        )
    known = {
        "client_id": [acme.client_code, str(acme.id), acme.client_code.lower()],
        "job_id": ["FUZZ-1", str(job.id)],
        "comm_id": [comm["id"]],
        "application_id": [application["id"]],
    }
    components = document
    failures = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if ONLY and operation["operationId"] not in ONLY.split(","):
                continue
            try:
                await asyncio.to_thread(
                    fuzz_operation, app_url, token, path, method, operation, components, known
                )
            except AssertionError as error:
                notes = "\n".join(getattr(error, "__notes__", []))
                failures.append(f"{operation['operationId']}: {error}\n{notes}")
    assert failures == [], "\n\n".join(failures[:5])
