"""LOCAL STAND-INS for tests, `bot.devtools.simulate` and the benchmark — not the real services.

* `ModelServerStandIn`: answers `POST /analyze` with AnalyzeResponse-shaped JSON (the contract of
  `serving/schemas.py`), fixed items, an optional delay or failure. It looks at no pixels. Items may carry
  an `embedding` (`standin_embedding`), sent only when asked with `?embed=true`, as the server will.
* `TwilioStandIn` (in `bot.devtools.twilio_standin`, importable from here): the Messages API (send, list) and
  a message's Media API (list, delete), basic auth, what `twilio.rest.Client` sends and parses; a media host.
* `ServerThread`: runs an ASGI app with uvicorn in a thread on 127.0.0.1, stoppable and restartable;
  `free_port()` finds a port for a server in another process.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
import time
from dataclasses import dataclass, field
from math import sqrt

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from bot.devtools.twilio_standin import TwilioStandIn as TwilioStandIn  # re-exported: tests import it from here

IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"RIFF", b"GIF8")


def standin_item(
    name: str, grams: float, kcal_per_100g: float, protein: float = 0.3, fat: float = 0.2, carbs: float = 14.0
) -> dict:
    """One AnalyzeResponse item with plausible numbers (nutrients per 100 g scaled to `grams`)."""
    scale = grams / 100
    return {
        "name": name,
        "display_name": name.replace("_", " ").capitalize(),
        "ndb": None,
        "confidence": 0.9,
        "box": {"xmin": 10.0, "ymin": 10.0, "xmax": 200.0, "ymax": 200.0},
        "recognised_by": "ecustfd",
        "suggestions": [],
        "grams": grams,
        "grams_low": round(grams * 0.83, 1),
        "grams_high": round(grams * 1.17, 1),
        "grams_basis": "model",
        "kcal": round(kcal_per_100g * scale, 1),
        "protein_g": round(protein * scale, 2),
        "fat_g": round(fat * scale, 2),
        "carbs_g": round(carbs * scale, 2),
    }


EMBEDDING_DIM = 1280


def standin_embedding(direction: int, blend: float = 0.0, towards: int | None = None) -> str:
    """A crop embedding as the server sends it (base64 of L2-normalised float16, 1280-d): the unit vector along
    `direction`, turned by `blend` towards `towards` (cosine with the first: 1 / sqrt(1 + blend²))."""
    import numpy as np

    vector = np.zeros(EMBEDDING_DIM, dtype=np.float32)
    vector[direction] = 1.0
    if towards is not None:
        vector[towards] += blend
    vector /= sqrt(float(vector @ vector))
    return base64.b64encode(vector.astype("<f2").tobytes()).decode()


def standin_unknown_item(
    *suggestions: tuple[str, float], embedding: str | None = None, grams: float | None = None, box=None
) -> dict:
    """An `unknown` AnalyzeResponse item (schema 2): no nutrients, the (name, probability) suggestions given;
    `grams`: sized from its box (grams_basis size_prior); `box`: (xmin, ymin, xmax, ymax) in the 640×480 image."""
    xmin, ymin, xmax, ymax = box or (220.0, 10.0, 400.0, 200.0)
    item = {
        "name": "unknown",
        "display_name": "Something I don't recognise",
        "ndb": None,
        "confidence": 0.6,
        "recognised_by": None,
        "suggestions": [
            {"name": n, "display_name": n.replace("_", " ").capitalize(), "probability": p, "source": "imagenet"}
            for n, p in suggestions
        ],
        "box": {"xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax},
        "grams": grams,
        "grams_low": round(grams * 0.8, 1) if grams else None,
        "grams_high": round(grams * 1.2, 1) if grams else None,
        "grams_basis": "size_prior" if grams else "none",
        "kcal": None,
        "protein_g": None,
        "fat_g": None,
        "carbs_g": None,
    }
    if embedding is not None:
        item["embedding"] = embedding
    return item


DEFAULT_ITEMS = (standin_item("apple", 180, 52), standin_item("banana", 120, 89, 1.1, 0.3, 22.8))


def analyze_response(items: list[dict] | tuple[dict, ...]) -> dict:
    keys = ("grams", "kcal", "protein_g", "fat_g", "carbs_g")
    named = [i for i in items if i["kcal"] is not None]
    return {
        "schema_version": 2,
        "items": list(items),
        "reference": {"kind": "coin", "box": {"xmin": 0.0, "ymin": 0.0, "xmax": 40.0, "ymax": 40.0}, "mm_per_px": 0.6},
        "totals": {
            **{k: round(sum(i[k] for i in named), 2) for k in keys},
            "unknown_items": len(items) - len(named),
        },
        "image": {"width": 640, "height": 480},
        "models": {
            "detector": {"name": "standin-detector", "version": "0"},
            "portion": {"name": "standin-portion", "version": "0"},
        },
        "timings_ms": {"decode": 1.0, "detect": 1.0, "portion": 1.0, "nutrition": 0.1, "total": 3.1},
        "hint": None if items else "no food found: take the photo from above with the whole plate in view",
    }


@dataclass
class ModelServerStandIn:
    """Knobs are plain attributes, changed by tests while the server runs."""

    items: tuple[dict, ...] = DEFAULT_ITEMS
    usage: list[dict] = field(default_factory=list)  # cloud namer calls to report with each answer
    delay_s: float = 0.0
    fail_status: int | None = None
    calls: int = 0
    queries: list[dict] = field(default_factory=list)  # the query parameters of each /analyze call
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> FastAPI:
        app = FastAPI(title="STAND-IN of the model server's /analyze contract")

        @app.post("/analyze")
        async def analyze(request: Request) -> Response:
            body = await request.body()
            with self._lock:
                self.calls += 1
                self.queries.append(dict(request.query_params))
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            if self.fail_status:
                return JSONResponse({"detail": "stand-in failure"}, status_code=self.fail_status)
            if not body.startswith(IMAGE_MAGIC):
                return JSONResponse({"detail": "the upload is not an image this service can read"}, status_code=415)
            items = self.items
            if request.query_params.get("embed") != "true":
                items = tuple({k: v for k, v in i.items() if k != "embedding"} for i in items)
            return JSONResponse({**analyze_response(items), "usage": self.usage})

        @app.get("/readyz")
        async def ready() -> dict:
            return {"ready": True}

        return app


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerThread:
    """uvicorn serving `app` on 127.0.0.1:`port` (0: any free port) in a daemon thread."""

    def __init__(self, app, port: int = 0):
        self.app = app
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 10.0) -> ServerThread:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart on the same port at once
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=5
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout_s: float = 15.0) -> None:
        if self._server is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout_s)
        self._server = None

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
