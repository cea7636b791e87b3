"""Bad input through the REST API: NUL characters anywhere, one invalid body per route, typed bulk
parameters, list filters, the error shape (always with `fields`), a database outage and the upload's
OpenAPI entry."""

from __future__ import annotations

import uuid

import aiohttp

from bot.models import Role
from tests import factories, test_api
from tests.test_api import CLIENT, Api
from tests.test_api import token as make_token

api, slack_api_url = test_api.api, test_api.slack_api_url  # the same fixtures as the API's own tests

RATINGS = {
    "responsiveness_rating": 4,
    "communication_rating": 4,
    "requirements_clarity_rating": 3,
    "decision_speed_rating": 5,
    "overall_satisfaction": 4,
}


def company(name: str, **fields) -> dict:
    slug = "".join(ch for ch in name.lower() if ch.isalnum())
    return (
        CLIENT | {"name": name, "contacts": [{"full_name": "C", "email": f"c@{slug}.example.com"}]} | fields
    )


async def test_nul_characters_are_refused_with_422_everywhere(api: Api, rt) -> None:
    admin = await make_token(rt, Role.ADMIN)
    _, client = await api.call("POST", "/api/clients", admin, CLIENT)
    code = client["client_code"]
    gets = [
        ("/api/clients?search=a%00b", "search"),
        ("/api/clients?industry=%00", "industry"),
        ("/api/clients?account_manager_id=%00", "account_manager_id"),
        ("/api/clients?sort_by=name%00", "sort_by"),
        (f"/api/clients/{code}/communications?q=%00", "q"),
        (f"/api/clients/{code}/communications?job=%00", "job"),
        ("/api/clients/%00", "client_id"),
        ("/api/clients/CLT-2026-0001%00/dashboard", "client_id"),
        (f"/api/clients/{code}/jobs?page=1&x%00=1", "x\\u0000"),
    ]
    for path, field in gets:
        status, body = await api.call("GET", path, admin)
        assert status == 422, (path, status, body)
        assert body["error"]["code"] == "validation_failed" and field in body["error"]["fields"], path
    for method in ("POST", "DELETE"):
        status, body = await api.call(method, f"/api/clients/{code}/jobs/%00", admin)
        assert status == 422 and "job_id" in body["error"]["fields"], (method, body)
    bodies = [
        ("POST", f"/api/clients/{code}/feedback", {"written_feedback": "a\u0000b"}, "written_feedback"),
        (
            "POST",
            "/api/clients/bulk-operations",
            {"client_ids": ["\u0000"], "operation": "x"},
            "client_ids.0",
        ),
        ("POST", "/api/clients", company("Nul\u0000Corp"), "name"),
        (
            "PUT",
            f"/api/clients/{code}",
            CLIENT | {"contacts": [{"full_name": "A", "email": "a@b.co", "title": "\u0000"}]},
            "contacts.0.title",
        ),
        (
            "POST",
            f"/api/clients/{code}/communications",
            {"communication_type": "call", "participants": [{"\u0000": 1}]},
            "participants.0.\\u0000",
        ),
        ("POST", "/api/candidates", {"full_name": "\u0000", "email": "x@y.co"}, "full_name"),
    ]
    for method, path, payload, field in bodies:
        status, body = await api.call(method, path, admin, payload)
        assert status == 422, (path, status, body)
        assert field in body["error"]["fields"], (path, body)


async def test_one_invalid_body_per_route_gets_422_with_fields(api: Api, rt) -> None:
    admin = await make_token(rt, Role.ADMIN)
    _, client = await api.call("POST", "/api/clients", admin, CLIENT)
    code = client["client_code"]
    random_id = uuid.uuid4()
    table = [
        ("POST", "/api/clients", {"name": "", "contacts": []}, {"name", "contacts"}),
        ("PUT", f"/api/clients/{code}", {"name": "X", "contacts": [{"email": "no"}]}, {"contacts.0.email"}),
        ("POST", f"/api/clients/{code}/deactivate", {}, {"reason"}),
        ("POST", f"/api/clients/{code}/deactivate", {"reason": "   "}, {"reason"}),
        (
            "POST",
            f"/api/clients/{code}/communications",
            {"communication_type": "fax"},
            {"communication_type"},
        ),
        ("POST", f"/api/clients/{code}/feedback", {"overall_satisfaction": 9}, {"overall_satisfaction"}),
        ("POST", f"/api/clients/{code}/feedback", RATINGS | {"feedback_period": " "}, {"feedback_period"}),
        ("POST", f"/api/clients/{code}/reports/performance", {"period": "2026-Q5"}, {"period"}),
        ("POST", f"/api/clients/{code}/reports/performance", {"vs": 2026}, {"vs"}),
        ("POST", f"/api/clients/{code}/jobs/JOB-1", {"move": "sideways"}, {"move"}),
        ("POST", "/api/jobs", {"title": "", "openings": -1}, {"title", "openings"}),
        ("POST", "/api/candidates", {"full_name": "", "email": "nope"}, {"full_name", "email"}),
        ("POST", "/api/applications", {"stage": "promoted"}, {"job_id", "candidate_id", "stage"}),
        ("PATCH", f"/api/applications/{random_id}", {"stage": "promoted"}, {"stage"}),
        ("PATCH", f"/api/applications/{random_id}", {"quality_score": 6}, {"quality_score"}),
        (
            "POST",
            "/api/clients/bulk-operations",
            {
                "client_ids": [code],
                "operation": "reassign_account_manager",
                "parameters": {"account_manager_id": 123},
            },
            {"parameters.account_manager_id"},
        ),
        (
            "POST",
            "/api/clients/bulk-operations",
            {"client_ids": [code], "operation": "archive", "parameters": {"reason": 123}},
            {"parameters.reason"},
        ),
        (
            "POST",
            "/api/clients/bulk-operations",
            {"client_ids": [code], "operation": "change_status", "parameters": {"status": 1, "extra": True}},
            {"parameters.status", "parameters.extra"},
        ),
        (
            "POST",
            "/api/clients/bulk-operations",
            {"client_ids": [code], "operation": "change_status", "parameters": {"status": "archived"}},
            {"parameters.reason"},
        ),
        (
            "POST",
            "/api/clients/bulk-operations",
            {"client_ids": [code], "operation": "link_jobs", "parameters": {"job_references": "JOB-1"}},
            {"parameters.job_references"},
        ),
        (
            "POST",
            "/api/clients/bulk-operations",
            {
                "client_ids": [code],
                "operation": "link_jobs",
                "parameters": {"job_references": [7], "move": []},
            },
            {"parameters.job_references.0", "parameters.move"},
        ),
        (
            "POST",
            "/api/clients/bulk-operations",
            {"operation": "archive", "parameters": {"reason": "r"}, "filter": {"status": ["gone"]}},
            {"filter.status"},
        ),
        (
            "POST",
            "/api/clients/bulk-operations",
            {"operation": "archive", "parameters": {"reason": "r"}},
            {"client_ids"},
        ),
    ]
    for method, path, body, fields in table:
        status, reply = await api.call(method, path, admin, body)
        assert status == 422, (method, path, body, status, reply)
        error = reply["error"]
        assert error["code"] == "validation_failed" and fields <= set(error["fields"]), (path, body, error)
    status, _ = await api.call("GET", f"/api/clients/{code}/feedback", admin)
    assert status == 200  # nothing half-valid was stored on the way


async def test_error_bodies_always_have_fields(api: Api, rt) -> None:
    manager = await make_token(rt, Role.MANAGER)
    for method, path, token in (
        ("GET", "/api/clients", None),
        ("GET", "/api/clients/CLT-1999-0001", manager),
        ("GET", "/api/nowhere", manager),
        ("POST", "/api/clients/CLT-1999-0001/deactivate", manager),
    ):
        status, body = await api.call(method, path, token, {})
        assert status >= 400 and set(body["error"]) == {"code", "message", "fields"}, (path, body)
        assert body["error"]["fields"] == {}
    status, body = await api.call("POST", "/api/clients", manager, raw=b"[1")
    assert status == 400 and body["error"]["fields"] == {}


async def test_list_filters_industry_account_manager_and_search(api: Api, rt) -> None:
    async with rt.db.session() as session:
        owner = await factories.user(session, "UOWNER", Role.MANAGER, name="Olive Owner")
    manager = await make_token(rt, Role.MANAGER)
    for name, industry, account_manager in (
        ("Alpha Tech", "IT", "UOWNER"),
        ("Beta Shops", "Retail", "UOWNER"),
        ("Gamma Tech", "IT", None),
        ("Delta 100% Foods", "Food", None),
    ):
        status, _ = await api.call(
            "POST",
            "/api/clients",
            manager,
            company(name, industry=industry, account_manager_id=account_manager),
        )
        assert status == 201

    async def names(query: str) -> list[str]:
        status, body = await api.call("GET", f"/api/clients?{query}", manager)
        assert status == 200, (query, body)
        assert body["summary"]["total"] == 4
        return [c["name"] for c in body["clients"]]

    assert await names("industry=it") == ["Alpha Tech", "Gamma Tech"]
    assert await names("account_manager_id=UOWNER") == ["Alpha Tech", "Beta Shops"]
    assert await names(f"account_manager_id={owner.id}") == ["Alpha Tech", "Beta Shops"]
    assert await names("account_manager_id=UOWNER&industry=IT") == ["Alpha Tech"]
    assert await names("search=tech") == ["Alpha Tech", "Gamma Tech"]
    assert await names("search=100%25") == ["Delta 100% Foods"]  # LIKE wildcards are literal
    assert await names("search=_") == []
    assert await names("search=CLT-") == ["Alpha Tech", "Beta Shops", "Delta 100% Foods", "Gamma Tech"]
    assert await names("industry=Mining") == []
    status, body = await api.call("GET", "/api/clients?account_manager_id=UNOBODY", manager)
    assert status == 422 and "account_manager_id" in body["error"]["fields"]


async def test_bulk_by_filter_and_failed_clients_keep_their_code(api: Api, rt) -> None:
    manager = await make_token(rt, Role.MANAGER)
    codes = {}
    for name, industry in (("One IT", "IT"), ("Two IT", "IT"), ("Three Retail", "Retail")):
        _, made = await api.call("POST", "/api/clients", manager, company(name, industry=industry))
        codes[name] = made["client_code"]
    body = {
        "filter": {"industry": "IT"},
        "operation": "change_status",
        "parameters": {"status": "on-hold", "reason": "freeze"},
        "dry_run": False,
    }
    status, done = await api.call("POST", "/api/clients/bulk-operations", manager, body)
    assert status == 200 and done["summary"] == {"ok": 2, "failed": 0}
    assert sorted(r["client_code"] for r in done["results"]) == sorted([codes["One IT"], codes["Two IT"]])
    _, listing = await api.call("GET", "/api/clients?status=on-hold", manager)
    assert listing["pagination"]["total"] == 2
    status, bad = await api.call(
        "POST", "/api/clients/bulk-operations", manager, body | {"filter": {"industry": "Mining"}}
    )
    assert status == 422 and "filter" in bad["error"]["fields"]
    status, bad = await api.call(
        "POST", "/api/clients/bulk-operations", manager, body | {"client_ids": [codes["One IT"]]}
    )
    assert status == 422 and "client_ids" in bad["error"]["fields"]  # not both

    link = {
        "client_ids": [codes["Three Retail"]],
        "operation": "link_jobs",
        "parameters": {"job_references": ["JOB-1999-0001"]},
    }
    status, result = await api.call("POST", "/api/clients/bulk-operations", manager, link)
    assert status == 200 and result["summary"] == {"ok": 0, "failed": 1}
    row = result["results"][0]
    assert row["client_code"] == codes["Three Retail"] and "JOB-1999-0001" in row["error"]
    reassign = {
        "client_ids": [codes["Three Retail"]],
        "operation": "reassign_account_manager",
        "parameters": {"account_manager_id": "UNOBODY"},
    }
    status, result = await api.call("POST", "/api/clients/bulk-operations", manager, reassign)
    assert status == 200 and result["results"][0]["client_code"] == codes["Three Retail"]
    assert result["results"][0]["ok"] is False


async def test_openapi_documents_typed_bulk_parameters_and_the_upload(api: Api) -> None:
    async with api.http.get(api.base + "/api/openapi.json") as response:
        document = await response.json()
    schemas = document["components"]["schemas"]
    upload = document["paths"]["/api/clients/{client_id}/communications/{comm_id}/attachments"]["post"]
    multipart = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert multipart["properties"]["file"]["items"]["format"] == "binary"
    assert {"201", "413", "415", "422"} <= set(upload["responses"])
    bulk = document["paths"]["/api/clients/bulk-operations"]["post"]
    body = bulk["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    variants = {ref["$ref"].rsplit("/", 1)[-1] for ref in schemas[body]["oneOf"]}
    assert variants == {"ChangeStatusBulk", "ReassignBulk", "LinkJobsBulk", "ArchiveBulk"}
    assert schemas[body]["discriminator"]["propertyName"] == "operation"
    status_params = schemas["ChangeStatusParameters"]
    assert status_params["required"] == ["status"] and status_params["additionalProperties"] is False
    assert schemas["LinkJobsParameters"]["properties"]["job_references"]["type"] == "array"
    assert "filter" in schemas["ArchiveBulk"]["properties"]
    for operations in document["paths"].values():
        for operation in operations.values():
            assert "503" in operation["responses"]


async def test_a_database_outage_answers_503_not_500(down_app_url: str) -> None:
    async with aiohttp.ClientSession() as http:
        api = Api(down_app_url, http)
        for method, path in (("GET", "/api/clients"), ("POST", "/api/clients/bulk-operations")):
            status, body = await api.call(method, path, "cbt_any-token", {})
            assert status == 503, (path, body)
            assert body["error"] == {
                "code": "database_unavailable",
                "message": body["error"]["message"],
                "fields": {},
            }
        async with http.get(api.base + "/healthz") as response:
            assert response.status == 503


async def test_malformed_multipart_and_nul_file_names_are_4xx(api: Api, rt) -> None:
    manager = await make_token(rt, Role.MANAGER)
    _, client = await api.call("POST", "/api/clients", manager, CLIENT)
    _, logged = await api.call(
        "POST",
        f"/api/clients/{client['client_code']}/communications",
        manager,
        {"communication_type": "call", "communication_date": "2026-03-02T10:00:00Z", "subject": "Files"},
    )
    url = f"{api.base}/api/clients/{client['client_code']}/communications/{logged['id']}/attachments"

    async def send(disposition: bytes) -> tuple[int, dict]:
        body = (
            b"--b0undary\r\nContent-Disposition: " + disposition + b"\r\n"
            b"Content-Type: text/plain\r\n\r\nhello\r\n--b0undary--\r\n"
        )
        headers = {
            "Authorization": f"Bearer {manager}",
            "Content-Type": "multipart/form-data; boundary=b0undary",
        }
        async with api.http.post(url, data=body, headers=headers) as response:
            return response.status, await response.json()

    status, body = await send(b'form-data; name="file"; filename="\x00\x1f.txt"')
    assert status == 400 and body["error"]["code"] == "bad_multipart"
    status, body = await send(b"form-data; name=\"file\"; filename*=UTF-8''a%00b.txt")
    assert status == 422 and "file" in body["error"]["fields"]
    status, body = await send(b'form-data; name="file"; filename="notes.txt"')
    assert status == 201 and body["attachments"][0]["name"] == "notes.txt"


async def test_deeply_nested_json_is_4xx(api: Api, rt) -> None:
    manager = await make_token(rt, Role.MANAGER)
    for depth in (950, 20000):
        raw = ('{"name": ' + "[" * depth + '"\\u0000"' + "]" * depth + "}").encode()
        for path in ("/api/clients", "/api/clients/bulk-operations", "/api/candidates"):
            status, body = await api.call("POST", path, manager, raw=raw)
            assert status in (400, 422), (depth, path, status, body)


async def test_dates_beyond_what_can_be_stored_are_422(api: Api, rt) -> None:
    manager = await make_token(rt, Role.MANAGER)
    _, client = await api.call("POST", "/api/clients", manager, CLIENT)
    code = client["client_code"]
    for moment in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
        status, body = await api.call("POST", "/api/jobs", manager, {"title": "T", "opened_at": moment})
        assert status == 422 and "opened_at" in body["error"]["fields"], body
        status, body = await api.call(
            "POST",
            f"/api/clients/{code}/communications",
            manager,
            {"communication_type": "call", "subject": "s", "communication_date": moment},
        )
        assert status == 422 and "communication_date" in body["error"]["fields"], body
    status, body = await api.call(
        "GET", f"/api/clients/{code}/communications?from=0001-01-01&to=9999-12-31", manager
    )
    assert status == 422 and {"from", "to"} <= set(body["error"]["fields"])
