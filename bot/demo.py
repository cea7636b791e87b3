"""`clientbot demo`: a realistic demo agency, offline, through the real services. Idempotent: clients
that already exist (by name) are left as they are."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from bot import clock
from bot.db import Database
from bot.models import Application, Client, Role, User
from bot.services import clients, communications, feedback, jobs, pipeline, users
from bot.services.inputs import parse_input
from bot.services.periods import previous, quarter_of

PEOPLE = [
    ("UDEMOADMIN", "Avery Admin", Role.ADMIN),
    ("UDEMOMGR1", "Morgan Manager", Role.MANAGER),
    ("UDEMOMGR2", "Sam Lead", Role.MANAGER),
    ("UDEMOREC1", "Riley Recruiter", Role.RECRUITER),
    ("UDEMOREC2", "Jordan Sourcer", Role.RECRUITER),
]
CLIENTS = [
    ("Northwind Traders", "Retail", "Seattle", "USA", "+1 206 555 0100", "UDEMOMGR1"),
    ("Contoso Health", "Health care", "London", "United Kingdom", "020 7946 0958", "UDEMOMGR1"),
    ("Fabrikam Energy", "Energy", "Berlin", "Germany", "+49 30 901820", "UDEMOMGR2"),
    ("Tailspin Toys", "Consumer goods", "Austin", "USA", "+1 512 555 0199", "UDEMOMGR2"),
    ("Adatum Finance", "Finance", "Paris", "France", "+33 1 42 68 53 00", "UDEMOMGR1"),
    ("Litware Software", "Information Technology", "Toronto", "Canada", "+1 416 555 0123", "UDEMOMGR2"),
]
ROLES = [
    "Backend Engineer",
    "Data Analyst",
    "Product Designer",
    "Nurse Practitioner",
    "Account Executive",
    "Site Reliability Engineer",
    "Financial Controller",
    "Project Manager",
]
FIRST = [
    "Ana",
    "Ben",
    "Chloe",
    "Dev",
    "Eva",
    "Femi",
    "Gus",
    "Hana",
    "Ivan",
    "Jia",
    "Kofi",
    "Lena",
    "Mo",
    "Nia",
]
LAST = [
    "Ortiz",
    "Patel",
    "Quinn",
    "Rossi",
    "Silva",
    "Tanaka",
    "Usman",
    "Varga",
    "Weber",
    "Xu",
    "Young",
    "Zaki",
]


async def build(db: Database, today: date | None = None) -> list[str]:
    """Create what is missing and return one line per thing made."""
    today = today or clock.today(UTC)
    rng = random.Random(42)
    made: list[str] = []
    async with db.session() as session:
        people: dict[str, User] = {}
        for slack_id, name, role in PEOPLE:
            person = await users.resolve(session, slack_user_id=slack_id, admins=(), display_name=name)
            person.role = role.value
            people[slack_id] = person
        await session.flush()
        admin = people["UDEMOADMIN"]
        for name, industry, city, country, phone, manager in CLIENTS:
            if await session.scalar(select(Client.id).where(Client.name == name)):
                continue
            domain = name.lower().split()[0] + ".example.com"
            data = clients.parse_client(
                {
                    "name": name,
                    "industry": industry,
                    "website": f"https://{domain}",
                    "city": city,
                    "country": country,
                    "account_manager_id": manager,
                    "contacts": [
                        {
                            "full_name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                            "title": "Head of Talent",
                            "email": f"talent@{domain}",
                            "phone": phone,
                            "is_primary": True,
                        },
                        {
                            "full_name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                            "title": "HR Business Partner",
                            "email": f"hrbp@{domain}",
                        },
                    ],
                }
            )
            client = await clients.create(session, actor=admin, data=data, confirm_duplicate=True)
            made.append(f"client {client.client_code} {name} ({industry}, {city})")
            await _jobs_and_pipeline(session, rng, people, client, today, made)
            await _communications(session, rng, people, client, today, made)
            await _feedback(session, rng, people, client, today, made)
    return made


async def _jobs_and_pipeline(session, rng, people, client, today, made) -> None:
    actor = people["UDEMOMGR1"]
    for _ in range(rng.randint(2, 4)):
        opened = datetime.combine(today, datetime.min.time(), UTC) - timedelta(days=rng.randint(20, 200))
        job = await jobs.create_job(
            session,
            actor=actor,
            data=jobs.parse_job(
                {
                    "title": rng.choice(ROLES),
                    "client_id": client.client_code,
                    "openings": rng.randint(1, 2),
                    "opened_at": opened,
                    "fee": str(rng.choice([6000, 8000, 12000, 15000])),
                }
            ),
        )
        hires = 0
        for _ in range(rng.randint(3, 7)):
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            email = f"{name.lower().replace(' ', '.')}.{rng.randint(1, 9999)}@mail.example.com"
            candidate, _ = await pipeline.upsert_candidate(
                session,
                actor=actor,
                data=parse_input(
                    pipeline.CandidateIn,
                    {
                        "full_name": name,
                        "email": email,
                        "source": rng.choice(["LinkedIn", "Referral", "Job board", "Direct"]),
                    },
                ),
            )
            stage = rng.choice(["screened", "shortlisted", "interviewed", "offered", "rejected", "hired"])
            if stage == "hired" and hires >= job.openings:
                stage = "interviewed"
            hires += stage == "hired"
            created = opened + timedelta(days=rng.randint(1, 15))
            moved = created + timedelta(days=rng.randint(1, 20))
            session.add(
                Application(
                    job_id=job.id,
                    candidate_id=candidate.id,
                    stage=stage,
                    created_at=created,
                    stage_changed_at=moved,
                    screened_at=created,
                    quality_score=rng.randint(2, 5),
                    offer_status={"offered": "made", "hired": "accepted"}.get(stage),
                    hired_at=moved if stage == "hired" else None,
                    placement_fee=Decimal(str(job.fee)) if stage == "hired" and job.fee else None,
                )
            )
        if hires >= job.openings:
            job.status, job.filled_at = "filled", opened + timedelta(days=rng.randint(25, 60))
        made.append(f"  job {job.reference} {job.title} ({job.status})")
    await session.flush()


async def _communications(session, rng, people, client, today, made) -> None:
    subjects = [
        "Kick-off meeting",
        "Weekly pipeline review",
        "Fee negotiation",
        "Feedback on shortlist",
        "Contract renewal",
        "Hiring plan for next quarter",
    ]
    for n in range(rng.randint(3, 6)):
        author = people[rng.choice(["UDEMOREC1", "UDEMOREC2", "UDEMOMGR1"])]
        when = datetime.combine(today, datetime.min.time(), UTC) - timedelta(days=rng.randint(1, 120))
        follow_up = today + timedelta(days=rng.randint(-5, 10)) if n == 0 else None
        await communications.log(
            session,
            actor=author,
            client_id=client.id,
            data=communications.parse_communication(
                {
                    "communication_type": rng.choice(["meeting", "call", "email", "video_call"]),
                    "communication_date": when,
                    "subject": rng.choice(subjects),
                    "is_important": n == 1,
                    "notes": "Discussed open roles, timelines and the candidates in process.",
                    "follow_up_date": follow_up,
                    "participants": [{"slack_user_id": author.slack_user_id}, {"name": "Client contact"}],
                }
            ),
        )
    made.append("  communications logged")


async def _feedback(session, rng, people, client, today, made) -> None:
    period = previous(quarter_of(today))
    for back in range(4):
        for manager in ("UDEMOMGR1", "UDEMOMGR2"):
            scores = {
                k: rng.randint(2, 5)
                for k in (
                    "responsiveness_rating",
                    "communication_rating",
                    "requirements_clarity_rating",
                    "decision_speed_rating",
                    "overall_satisfaction",
                )
            }
            await feedback.submit(
                session,
                actor=people[manager],
                client_id=client.id,
                today=today,
                data=feedback.parse_feedback({"feedback_period": previous(period, back), **scores}),
            )
    made.append(f"  feedback for 4 quarters up to {period}")
