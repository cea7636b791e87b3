"""The REST API for integrations: bearer tokens with roles, validation errors, jobs and pipeline upserts."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.models import AuditLog, ClientJobAssignment, Role
from bot.services import api_tokens


class Api:
    def __init__(self, base: str, http: aiohttp.ClientSession) -> None:
        self.base, self.http = base, http

    async def call(
        self, method: str, path: str, token: str | None, body: Any = None, raw: bytes | None = None
    ) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        kwargs: dict[str, Any] = (
            {"data": raw} if raw is not None else {"json": body} if body is not None else {}
        )
        async with self.http.request(method, self.base + path, headers=headers, **kwargs) as response:
            return response.status, await response.json()


@pytest.fixture
def slack_api_url() -> str:
    return "http://127.0.0.1:9/api/"  # the API never calls Slack


@pytest.fixture
async def api(app_url: str) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as http:
        yield Api(app_url, http)


async def token(rt, role: Role) -> str:
    async with rt.db.session() as session:
        value, _ = await api_tokens.create(session, name=f"{role.value} integration", role=role)
    return value


CLIENT = {
    "name": "Tech Corp Inc.",
    "industry": "IT",
    "country": "USA",
    "contacts": [
        {
            "full_name": "John Doe",
            "email": "john@techcorp.example.com",
            "phone": "+1 415 555 2671",
            "is_primary": True,
        }
    ],
}


async def test_tokens_are_required_and_checked(api: Api, rt) -> None:
    assert (await api.call("GET", "/api/clients", None))[0] == 401
    status, body = await api.call("GET", "/api/clients", "cbt_not-a-real-token")
    assert status == 401 and body["error"]["code"] == "unauthorized"
    status, body = await api.call("GET", "/api/clients", await token(rt, Role.RECRUITER))
    assert status == 200 and body["clients"] == [] and body["summary"]["total"] == 0


async def test_roles_apply_to_tokens(api: Api, rt) -> None:
    recruiter, manager, admin = [await token(rt, r) for r in (Role.RECRUITER, Role.MANAGER, Role.ADMIN)]
    status, body = await api.call("POST", "/api/clients", recruiter, CLIENT)
    assert status == 403 and "HR Manager" in body["error"]["message"]
    status, created = await api.call("POST", "/api/clients", manager, CLIENT)
    assert status == 201 and created["client_code"].startswith("CLT-")
    code = created["client_code"]
    assert (await api.call("POST", f"/api/clients/{code}/deactivate", manager, {"reason": "x"}))[0] == 403
    status, gone = await api.call(
        "POST", f"/api/clients/{code}/deactivate", admin, {"reason": "Contract ended"}
    )
    assert status == 200 and gone["status"] == "inactive"
    async with rt.db.session() as session:
        entry = await session.scalar(select(AuditLog).where(AuditLog.action == "client.status_changed"))
    assert entry.actor_id is not None


async def test_bad_bodies_get_4xx_with_fields(api: Api, rt) -> None:
    manager = await token(rt, Role.MANAGER)
    status, body = await api.call("POST", "/api/clients", manager, raw=b"{not json")
    assert status == 400 and body["error"]["code"] == "bad_json"
    status, body = await api.call(
        "POST", "/api/clients", manager, {"name": "X", "contacts": [{"full_name": "A", "email": "nope"}]}
    )
    assert status == 422 and "contacts.0.email" in body["error"]["fields"]
    status, body = await api.call("POST", "/api/jobs", manager, {"title": "", "openings": 0})
    assert status == 422 and {"title", "openings"} <= set(body["error"]["fields"])
    status, body = await api.call(
        "POST", "/api/applications", manager, {"job_id": "JOB-NOPE", "candidate_id": "x", "stage": "screened"}
    )
    assert status == 404
    status, body = await api.call("PATCH", "/api/applications/not-a-uuid", manager, {"stage": "hired"})
    assert status == 404
    assert (await api.call("GET", "/api/nowhere", manager))[0] == 404


async def test_ats_feed_jobs_candidates_applications_and_linking(api: Api, rt) -> None:
    manager = await token(rt, Role.MANAGER)
    _, client = await api.call("POST", "/api/clients", manager, CLIENT)
    status, job = await api.call(
        "POST",
        "/api/jobs",
        manager,
        {"title": "Backend Engineer", "fee": "6000", "client_id": client["client_code"]},
    )
    assert status == 201 and job["reference"].startswith("JOB-") and job["client_id"] == client["id"]
    status, cand = await api.call(
        "POST", "/api/candidates", manager, {"full_name": "Ann", "email": "ann@x.com"}
    )
    assert status == 201
    status, again = await api.call(
        "POST", "/api/candidates", manager, {"full_name": "Ann", "email": "ANN@x.com"}
    )
    assert status == 200 and again["id"] == cand["id"]
    status, app = await api.call(
        "POST",
        "/api/applications",
        manager,
        {"job_id": job["reference"], "candidate_id": cand["id"], "stage": "interviewed", "quality_score": 4},
    )
    assert status == 201 and app["interviewed_at"]
    status, same = await api.call(  # the ATS sends the application again: an update, not a second row
        "POST",
        "/api/applications",
        manager,
        {"job_id": job["id"], "candidate_id": cand["id"], "stage": "offered", "quality_score": 5},
    )
    assert status == 200 and same["id"] == app["id"] and same["stage"] == "offered" and same["offered_at"]
    status, moved = await api.call("PATCH", f"/api/applications/{app['id']}", manager, {"stage": "hired"})
    assert status == 200 and moved["stage"] == "hired" and moved["hired_at"]
    status, updated = await api.call(  # and the job again, by reference: updated in place
        "POST",
        "/api/jobs",
        manager,
        {
            "reference": job["reference"],
            "title": "Senior Backend Engineer",
            "fee": "6000",
            "status": "filled",
        },
    )
    assert status == 200 and updated["id"] == job["id"] and updated["title"] == "Senior Backend Engineer"
    assert updated["status"] == "filled" and updated["filled_at"]
    status, listing = await api.call("GET", f"/api/clients/{client['id']}/jobs", manager)
    assert status == 200 and listing["jobs"][0]["pipeline"]["hired"] == 1
    assert listing["analytics"]["placements"] == 1 and listing["analytics"]["revenue"] == "6000.00"

    _, other = await api.call(
        "POST",
        "/api/clients",
        manager,
        CLIENT | {"name": "Globex", "contacts": [{"full_name": "G", "email": "g@globex.example.com"}]},
    )
    status, body = await api.call(
        "POST", f"/api/clients/{other['client_code']}/jobs/{job['reference']}", manager
    )
    assert status == 409 and "move" in body["error"]["message"]
    status, _ = await api.call(
        "POST", f"/api/clients/{other['client_code']}/jobs/{job['reference']}", manager, {"move": True}
    )
    assert status == 201
    status, body = await api.call(
        "DELETE", f"/api/clients/{other['client_code']}/jobs/{job['reference']}", manager
    )
    assert status == 200 and body["linked"] is False
    async with rt.db.session() as session:
        rows = list(await session.scalars(select(ClientJobAssignment)))
    assert len(rows) == 2 and not any(r.is_active for r in rows)


async def test_bulk_operations_dry_run_then_real_run(api: Api, rt) -> None:
    manager, admin = await token(rt, Role.MANAGER), await token(rt, Role.ADMIN)
    codes = []
    for n in range(3):
        _, made = await api.call(
            "POST",
            "/api/clients",
            manager,
            CLIENT
            | {"name": f"Bulk {n}", "contacts": [{"full_name": "B", "email": f"b@bulk{n}.example.com"}]},
        )
        codes.append(made["client_code"])
    body = {
        "client_ids": [*codes, "CLT-1999-0001"],
        "operation": "change_status",
        "parameters": {"status": "on-hold", "reason": "hiring freeze"},
        "dry_run": True,
    }
    status, preview = await api.call("POST", "/api/clients/bulk-operations", manager, body)
    assert status == 200 and preview["summary"] == {"ok": 3, "failed": 1}
    assert preview["results"][0]["change"] == "status active → on-hold"
    _, listing = await api.call("GET", "/api/clients?status=on-hold", manager)
    assert listing["pagination"]["total"] == 0  # the dry run wrote nothing
    status, done = await api.call("POST", "/api/clients/bulk-operations", manager, body | {"dry_run": False})
    assert status == 200 and done["summary"] == {"ok": 3, "failed": 1}
    _, listing = await api.call("GET", "/api/clients?status=on-hold", manager)
    assert listing["pagination"]["total"] == 3
    archive = {
        "client_ids": codes[:1],
        "operation": "archive",
        "parameters": {"reason": "closed"},
        "dry_run": False,
    }
    assert (await api.call("POST", "/api/clients/bulk-operations", manager, archive))[0] == 403  # admins only
    status, archived = await api.call("POST", "/api/clients/bulk-operations", admin, archive)
    assert status == 200 and archived["results"][0]["change"] == "status on-hold → archived"
    status, bad = await api.call(
        "POST", "/api/clients/bulk-operations", manager, {"client_ids": [], "operation": "explode"}
    )
    assert status == 422 and {"client_ids", "operation"} <= set(bad["error"]["fields"])


async def test_openapi_document_and_parity_endpoints(api: Api, rt) -> None:
    async with api.http.get(api.base + "/api/openapi.json") as response:
        document = await response.json()
    assert document["openapi"].startswith("3.") and "ClientIn" in document["components"]["schemas"]
    schemas = document["components"]["schemas"]
    for operations in document["paths"].values():
        for operation in operations.values():
            success = next(v for k, v in operation["responses"].items() if k.startswith("2"))
            model = success["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
            assert model.endswith("Out") and model in schemas, operation["operationId"]
    for path in (
        "/api/clients/{client_id}/dashboard",
        "/api/clients/{client_id}/communications",
        "/api/clients/{client_id}/feedback",
        "/api/clients/{client_id}/reports/performance",
        "/api/clients/bulk-operations",
    ):
        assert path in document["paths"]
    manager = await token(rt, Role.MANAGER)
    _, client = await api.call("POST", "/api/clients", manager, CLIENT)
    code = client["client_code"]
    status, logged = await api.call(
        "POST",
        f"/api/clients/{code}/communications",
        manager,
        {
            "communication_type": "Phone Call",
            "communication_date": "2026-03-02T10:00:00Z",
            "subject": "Intro",
        },
    )
    assert status == 201 and logged["communication_type"] == "call" and logged["source"] == "api"
    status, history = await api.call("GET", f"/api/clients/{code}/communications?type=call", manager)
    assert status == 200 and history["pagination"]["total"] == 1
    assert (await api.call("GET", f"/api/clients/{code}/communications?type=fax", manager))[0] == 422
    ratings = {
        "responsiveness_rating": 4,
        "communication_rating": 4,
        "requirements_clarity_rating": 3,
        "decision_speed_rating": 5,
        "overall_satisfaction": 4,
    }
    status, _ = await api.call(
        "POST", f"/api/clients/{code}/feedback", manager, ratings | {"feedback_period": "2026-Q3"}
    )
    assert status == 201
    status, bad = await api.call(
        "POST",
        f"/api/clients/{code}/feedback",
        manager,
        ratings | {"feedback_period": "2026-Q3", "overall_satisfaction": 6},
    )
    assert status == 422 and "overall_satisfaction" in bad["error"]["fields"]
    status, listing = await api.call("GET", f"/api/clients/{code}/feedback", manager)
    assert status == 200 and listing["periods"][0]["averages"]["decision_speed_rating"] == 5.0
    status, report = await api.call(
        "POST", f"/api/clients/{code}/reports/performance", manager, {"period": "2026-Q3"}
    )
    assert (
        status == 200
        and report["compared_with"] == "2026-Q2"
        and report["deltas"]["overall_satisfaction"] is None
    )
    status, board = await api.call("GET", f"/api/clients/{code}/dashboard", manager)
    assert (
        status == 200
        and board["metrics"]["total_jobs"] == 0
        and board["timeline"][0]["kind"] in ("communication", "feedback")
    )


async def test_every_endpoint_refuses_missing_and_bad_tokens(api: Api, rt) -> None:
    from bot.api import ROUTES

    for route in ROUTES:
        path = route.path.format(
            client_id="CLT-2026-0001",
            job_id="JOB-1",
            application_id=str(uuid.uuid4()),
            comm_id=str(uuid.uuid4()),
        )
        for bad in (None, "cbt_wrong"):
            status, body = await api.call(route.method, path, bad, {})
            assert (status, body["error"]["code"]) == (401, "unauthorized"), (route.method, route.path, bad)


async def test_attachments_upload_is_append_only_and_checked_by_content(api: Api, rt) -> None:
    manager = await token(rt, Role.MANAGER)
    _, client = await api.call("POST", "/api/clients", manager, CLIENT)
    code = client["client_code"]
    _, logged = await api.call(
        "POST",
        f"/api/clients/{code}/communications",
        manager,
        {
            "communication_type": "meeting",
            "communication_date": "2026-03-02T10:00:00Z",
            "subject": "Kick-off",
        },
    )
    url = f"{api.base}/api/clients/{code}/communications/{logged['id']}/attachments"
    headers = {"Authorization": f"Bearer {manager}"}

    async def upload(name: str, content: bytes) -> tuple[int, dict]:
        form = aiohttp.FormData()
        form.add_field("file", content, filename=name, content_type="application/octet-stream")
        async with api.http.post(url, data=form, headers=headers) as response:
            return response.status, await response.json()

    status, body = await upload("notes.pdf", b"%PDF-1.4 minutes of the kick-off\n%%EOF")
    assert status == 201 and [a["mime"] for a in body["attachments"]] == ["application/pdf"]
    status, body = await upload("more.txt", b"plain text notes")
    assert status == 201 and [a["name"] for a in body["attachments"]] == ["notes.pdf", "more.txt"]
    assert (await upload("evil.pdf", b"MZ\x90\x00\x03" + b"\x00" * 64))[0] == 422
    assert (await upload("huge.pdf", b"%PDF-" + b"0" * (10 * 1024 * 1024)))[0] == 413
    async with api.http.post(url, json={"file": "x"}, headers=headers) as response:
        assert response.status == 415


async def test_list_sorts_and_rejects_unknown_sorts(api: Api, rt) -> None:
    manager = await token(rt, Role.MANAGER)
    for name in ("Beta", "Alpha", "Gamma"):
        await api.call(
            "POST",
            "/api/clients",
            manager,
            CLIENT
            | {"name": name, "contacts": [{"full_name": "C", "email": f"c@{name.lower()}.example.com"}]},
        )
    _, by_name = await api.call("GET", "/api/clients?sort_by=-name", manager)
    assert [c["name"] for c in by_name["clients"]] == ["Gamma", "Beta", "Alpha"]
    _, by_code = await api.call("GET", "/api/clients?sort_by=client_code&limit=2&page=2", manager)
    assert [c["name"] for c in by_code["clients"]] == ["Gamma"] and by_code["pagination"]["pages"] == 2
    status, body = await api.call("GET", "/api/clients?sort_by=password", manager)
    assert status == 422 and "sort_by" in body["error"]["fields"]


async def test_get_and_update_a_client(api: Api, rt) -> None:
    manager, recruiter = await token(rt, Role.MANAGER), await token(rt, Role.RECRUITER)
    _, client = await api.call("POST", "/api/clients", manager, CLIENT)
    status, details = await api.call("GET", f"/api/clients/{client['id']}", recruiter)
    assert status == 200 and details["contacts"][0]["phone"] == "+14155552671" and "stats" in details
    assert (await api.call("PUT", f"/api/clients/{client['client_code']}", recruiter, CLIENT))[0] == 403
    status, updated = await api.call(
        "PUT",
        f"/api/clients/{client['client_code']}",
        manager,
        CLIENT | {"name": "Tech Corp Group", "city": "Oakland"},
    )
    assert status == 200 and (updated["name"], updated["city"]) == ("Tech Corp Group", "Oakland")
    assert updated["client_code"] == client["client_code"]
    assert (await api.call("GET", "/api/clients/CLT-1999-0001", manager))[0] == 404
