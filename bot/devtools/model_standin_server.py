"""Serve the LOCAL STAND-IN of the model server's /analyze contract (`ModelServerStandIn`) as its own process.

    python -m bot.devtools.model_standin_server --port 3000 --delay 0.2,1.5

In a process of its own it can be killed and restarted on the same port (benchmarks/faults.py does). Each
/analyze answer waits a random time in the `--delay` range first, so some photos take the bot's slow path.
It looks at no pixels: every image gets the same items (an apple and a banana).
"""

from __future__ import annotations

import asyncio
import random
from typing import Annotated

import typer
import uvicorn

from bot.devtools.standins import ModelServerStandIn


def delay_range(text: str) -> tuple[float, float]:
    """'0.2,1.5' → (0.2, 1.5); '0.5' → (0.5, 0.5)."""
    low, _, high = text.partition(",")
    bounds = (float(low), float(high or low))
    if not 0 <= bounds[0] <= bounds[1]:
        raise typer.BadParameter(f"{text!r} is not MIN,MAX with 0 ≤ MIN ≤ MAX")
    return bounds


class RandomDelay:
    """ASGI middleware: POST /analyze waits uniform(low, high) seconds before the stand-in answers."""

    def __init__(self, app, low: float, high: float, seed: int | None = None):
        self.app, self.low, self.high = app, low, high
        self._random = random.Random(seed)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/analyze" and self.high > 0:
            await asyncio.sleep(self._random.uniform(self.low, self.high))
        await self.app(scope, receive, send)


cli = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0])


@cli.command()
def main(
    port: Annotated[int, typer.Option(help="port to listen on")] = 3000,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    delay: Annotated[str, typer.Option(help="seconds each /analyze waits: MIN,MAX (uniform) or one number")] = "0",
    fail_status: Annotated[int | None, typer.Option(help="answer every /analyze with this HTTP status")] = None,
    seed: Annotated[int | None, typer.Option(help="seed of the random delays")] = None,
) -> None:
    """Serve the /analyze stand-in until killed."""
    low, high = delay_range(delay)
    app = ModelServerStandIn(fail_status=fail_status).app()
    uvicorn.run(RandomDelay(app, low, high, seed), host=host, port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    cli()
