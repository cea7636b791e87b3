"""Issue 11 item 15: managers creating the same new client at the same moment get it created once; the
others get the duplicate warning. Real concurrency: simultaneous requests into the running app."""

from __future__ import annotations

import asyncio
import json

import aiohttp
from sqlalchemy import func, select

from bot.models import Client, Role
from bot.services import api_tokens
from tests import factories
from tests.test_clients_slack import open_new_client_modal, submit

MANAGERS = ("UMANAGER", "UMANAGER2")
INITECH = {
    "name": "Initech",
    "industry": "Software",
    "country": "USA",
    "contacts": [{"full_name": "Bill Lumbergh", "email": "bill@initech.example", "is_primary": True}],
}


async def _clients(rt) -> list[str]:
    async with rt.db.session() as session:
        return list(await session.scalars(select(Client.name)))


async def test_simultaneous_api_creations_of_one_client_create_it_once(app_url, rt) -> None:
    """Five integrations (each its own manager token) POST the same new client at the same moment: on
    main each request's duplicate check ran before any other's insert was committed, and all five were
    created."""
    tokens = []
    async with rt.db.session() as session:
        for n in range(5):
            value, _ = await api_tokens.create(session, name=f"ats {n}", role=Role.MANAGER)
            tokens.append(value)
    async with aiohttp.ClientSession() as http:

        async def create(token: str) -> tuple[int, dict]:
            headers = {"Authorization": f"Bearer {token}"}
            async with http.post(f"{app_url}/api/clients", json=INITECH, headers=headers) as response:
                return response.status, await response.json()

        replies = await asyncio.gather(*(create(t) for t in tokens))
    statuses = sorted(status for status, _ in replies)
    assert statuses == [201, 409, 409, 409, 409], replies
    assert all(body["error"]["code"] == "duplicate_suspected" for status, body in replies if status == 409)
    assert await _clients(rt) == ["Initech"]


GOOD_FORM = {
    "name": "Initech",
    "industry": "Software",
    "country": "USA",
    "contact_0_name": "Bill Lumbergh",
    "contact_0_email": "bill@initech.example",
}


async def test_two_managers_submitting_the_same_new_client_create_it_once(slack, fake, rt) -> None:
    """Two managers fill in /client new with "Initech", bill@initech.example and press Create at the same
    moment. On main the duplicate check ran before the ack and the insert after it, each in its own
    transaction: both passed the check and both clients were created. Now one is created; the other
    manager is told it already exists (the modal's warning when the check sees it before the ack, else a
    message naming the client created meanwhile)."""
    async with rt.db.session() as session:
        for manager in MANAGERS:
            await factories.user(session, manager, Role.MANAGER)
    views = []
    for manager in MANAGERS:
        views.append(await open_new_client_modal(slack, fake, user_id=manager))
        fake.reset()  # the next modal is the next views.open
    replies = await asyncio.gather(
        *(submit(slack, view, GOOD_FORM, user_id=m) for view, m in zip(views, MANAGERS, strict=True))
    )
    warned = 0
    for view, reply in zip(views, replies, strict=True):
        if reply.json and reply.json.get("response_action") == "update":  # warned in the modal
            assert "same name" in json.dumps(reply.json["view"])
            warned += 1
            continue
        assert reply.status == 200 and not reply.body
        response_url = json.loads(view["private_metadata"])["response_url"]
        answer = json.dumps(await fake.wait_for_response(response_url))
        if "was not created" in answer:
            assert "Initech" in answer and "CLT-" in answer and "Create anyway" in answer
            warned += 1
        else:
            assert "Created *Initech*" in answer
    assert warned == 1
    assert await _clients(rt) == ["Initech"]
    async with rt.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Client)) == 1
