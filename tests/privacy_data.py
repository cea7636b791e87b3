"""A person known to clientbot in every way a contact or candidate can be (issue 13 part 4), and a scan of
every stored text for them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

from sqlalchemy import JSON, String, Text, select

from bot import clock
from bot.db import Database
from bot.models import Base, ClientCommunication, Role
from bot.services import communications, feedback, jobs, periods, pipeline
from tests import factories

EMAIL = "zelda.quist@acme-corp.example.com"
NAME = "Zelda Quist"
PHONE = "+1 415 555 2672"  # stored as +14155552672
OTHER = "john@techcorp.example.com"  # John Doe, the client's primary contact: never touched
FILE = {
    "name": "zelda-quist-cv.pdf",
    "original_name": "Zelda Quist CV.pdf",
    "size": 1234,
    "mime": "application/pdf",
    "sha256": hashlib.sha256(b"cv").hexdigest(),
    "storage_key": "attachments/ab/cd.pdf",
}


@dataclass
class Cast:
    client_code: str
    mentioned: list[Any]  # the communications naming the person
    untouched: Any  # one that doesn't


def _entry(**fields: Any) -> communications.CommunicationIn:
    return communications.parse_communication(
        {"communication_type": "meeting", "communication_date": clock.now() - timedelta(days=3)} | fields
    )


async def person(db: Database) -> Cast:
    """Zelda Quist: a contact of Acme (with a phone), a candidate on one of its jobs, in the email headers
    (participants) of a logged email, named in another record's notes and an attachment's name, in the
    written feedback, and in the audit log (her contact and candidate were created with snapshots)."""
    async with db.session() as session:
        admin = await factories.user(session, "UADMIN", Role.ADMIN)
        manager = await factories.user(session, "UMANAGER", Role.MANAGER)
        contacts = factories.client_input()["contacts"] + [
            {"full_name": NAME, "title": "Talent lead", "email": EMAIL.upper(), "phone": PHONE}
        ]
        acme = await factories.client(session, manager, "Acme", contacts=contacts)
        job = await jobs.create_job(
            session,
            actor=admin,
            data=jobs.parse_job({"title": "Data engineer", "client_id": acme.client_code}),
        )
        candidate, _ = await pipeline.upsert_candidate(
            session, actor=admin, data=pipeline.CandidateIn(full_name=NAME, email=EMAIL, source="referral")
        )
        await pipeline.create_application(
            session,
            actor=admin,
            data=pipeline.ApplicationIn(
                job_id=job.reference, candidate_id=str(candidate.id), stage="interviewed"
            ),
        )
        email = await communications.log(
            session,
            actor=manager,
            client_id=acme.id,
            data=_entry(
                communication_type="email",
                subject=f"Re: next steps for {NAME}",
                notes=f"Thanks! Reach me on +1 (415) 555-2672 or {EMAIL}.\n-- Zelda",
                participants=[{"name": NAME, "email": EMAIL}, {"name": "John Doe", "email": OTHER}],
                permalink=f"mid:<{EMAIL.replace('@', '.')}@mail.example.com>",
            ),
            source="email",
        )
        meeting = await communications.log(
            session,
            actor=manager,
            client_id=acme.id,
            data=_entry(subject="Interview debrief", notes="zelda  QUIST did well; John to send the offer."),
            attachments=[FILE],
        )
        untouched = await communications.log(
            session,
            actor=manager,
            client_id=acme.id,
            data=_entry(
                subject="Budget call", notes="John Doe confirmed the budget.", participants=[{"email": OTHER}]
            ),
        )
        await feedback.submit(
            session,
            actor=manager,
            client_id=acme.id,
            data=feedback.parse_feedback(
                {
                    "feedback_period": periods.last_completed_quarter(clock.today(UTC)),
                    **{f: 4 for f in ("responsiveness_rating", "communication_rating")},
                    **{f: 4 for f in ("requirements_clarity_rating", "decision_speed_rating")},
                    "overall_satisfaction": 4,
                    "written_feedback": f"{NAME} answers within the hour.",
                }
            ),
        )
        return Cast(acme.client_code, [email, meeting], untouched)


async def texts(db: Database) -> list[tuple[str, str, str]]:
    """Every text and JSON value stored in every table, as (table, column, text)."""
    found = []
    async with db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            columns = [
                c for c in table.c if isinstance(c.type, String | Text | JSON) or "JSON" in str(c.type)
            ]
            if not columns:
                continue
            for row in await conn.execute(select(*columns)):
                for column, value in zip(columns, row, strict=True):
                    if value is not None:
                        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                        found.append((table.name, column.name, shown))
    return found


def holding(stored: list[tuple[str, str, str]], *needles: str) -> list[tuple[str, str, str]]:
    return [s for s in stored if any(n.lower() in " ".join(s[2].lower().split()) for n in needles)]


async def communications_at_rest(db: Database) -> dict[Any, tuple]:
    """What an erasure must never change about a communication."""
    async with db.session() as session:
        rows = await session.scalars(select(ClientCommunication))
        return {
            r.id: (
                r.client_id,
                r.communication_type,
                r.communication_date,
                r.created_at,
                r.logged_by,
                r.source,
                r.archived_at,
                [
                    {k: v for k, v in f.items() if k not in ("name", "original_name")}
                    for f in r.attachments or []
                ],
            )
            for r in rows
        }
