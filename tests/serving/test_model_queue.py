"""The one-process server queues photos for the models instead of refusing them, up to `max_queue`."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from PIL import Image

from serving.service import ModelsUnavailable, PlateCoach, ServingSettings
from training.inference.plate import PlateFindings


class SlowModels:
    """Stands in for PlateModels: 50 ms a photo, and counts how many ran at once."""

    def __init__(self):
        self.running = self.most = 0

    def __call__(self, images):
        self.running += 1
        self.most = max(self.most, self.running)
        time.sleep(0.05)
        self.running -= 1
        return [PlateFindings([], "none", None, None) for _ in images]


def coach(max_queue: int):
    service = PlateCoach.inner.__new__(PlateCoach.inner)  # no models loaded: only the queue is under test
    service.settings = ServingSettings(max_queue=max_queue)
    service.local_models = SlowModels()
    service.model_queue = ThreadPoolExecutor(max_workers=1)
    service.waiting = 0
    return service


async def _many(service, n: int) -> list:
    image = Image.new("RGB", (64, 64))
    return await asyncio.gather(*(service._infer_here(image) for _ in range(n)), return_exceptions=True)


def test_photos_wait_their_turn_one_at_a_time():
    service = coach(max_queue=8)  # one model worker
    answers = asyncio.run(_many(service, 8))
    assert all(isinstance(a, PlateFindings) for a in answers)
    assert service.local_models.most == 1 and service.waiting == 0


def test_past_the_queue_depth_photos_are_refused_with_a_reason():
    service = coach(max_queue=3)
    answers = asyncio.run(_many(service, 5))
    refused = [a for a in answers if isinstance(a, Exception)]
    assert len(refused) == 2 and all(isinstance(a, ModelsUnavailable) for a in refused)
    assert "waiting for the models" in str(refused[0])
