"""Fixtures of the serving tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def coach_app(tiny_models):
    """`PlateCoach` as an ASGI app, built once: BentoML's metrics cannot be registered twice in one process. Each
    `TestClient(coach_app)` block starts the service again, reading the PLATE_SERVING_* variables of that moment."""
    from serving.service import PlateCoach

    return PlateCoach.to_asgi()
