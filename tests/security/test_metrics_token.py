"""`/metrics` exposes operational figures: off without CLIENTBOT_METRICS_TOKEN, and then only for that
exact bearer token (no prefix, no other scheme, no query parameter), compared in constant time."""

from __future__ import annotations

import aiohttp
import pytest

TOKEN = "the-right-metrics-token"


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"metrics_token": TOKEN})


async def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers or {}) as response:
        return response.status, await response.text()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"X-Metrics-Token": TOKEN},
    ],
)
async def test_metrics_refuse_a_missing_or_wrong_token(app_url, headers) -> None:
    status, body = await _get(f"{app_url}/metrics?token={TOKEN}", headers)
    assert status == 401 and "clientbot_" not in body


async def test_metrics_answer_the_right_token(app_url) -> None:
    status, body = await _get(f"{app_url}/metrics", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200 and "clientbot_build_info" in body


async def test_metrics_are_off_without_a_token(app_url, rt) -> None:
    rt.settings = rt.settings.model_copy(update={"metrics_token": None})
    status, body = await _get(f"{app_url}/metrics", {"Authorization": "Bearer "})
    assert status == 404 and "clientbot_" not in body
