"""Bolt listeners, one module per feature: parse -> call a service -> render a view."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp


def register(app: AsyncApp) -> None:
    from handlers import (
        bulk,
        clients,
        commands,
        common,
        communications,
        dashboard,
        feedback,
        health,
        imports,
        jobs,
        metrics,
        subscriptions,
        users,
    )

    for module in (
        common,
        commands,
        clients,
        dashboard,
        jobs,
        communications,
        feedback,
        bulk,
        imports,
        health,
        users,
        subscriptions,
        metrics,
    ):
        module.register(app)
