"""Benchmark a real `bentoml serve` on localhost: latency one at a time, and throughput at concurrency
1/4/16 with adaptive batching on vs off, printed side by side with ratios.

    python -m benchmarks.serving --photos ../shared/data/ecustfd/JPEGImages

Needs the models in the BentoML store (`python -m serving.import_models`). Photos are resized so their long
side is --side px (the goal is stated per 640-px photo) and sent as the raw JPEG body, as the bot does.
"""

from __future__ import annotations

import asyncio
import io
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help=__doc__, add_completion=False)


def load_photos(folder: Path, count: int, side: int) -> list[bytes]:
    from PIL import Image

    paths = sorted(folder.glob("*.JPG")) + sorted(folder.glob("*.jpg"))
    if not paths:
        raise typer.BadParameter(f"no .jpg photos in {folder}")
    step = max(1, len(paths) // count)
    out = []
    for path in paths[::step][:count]:
        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail((side, side))
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=90)
            out.append(buffer.getvalue())
    return out


async def _run(url: str, photos: list[bytes], concurrency: int, requests: int) -> tuple[list[float], float, Counter]:
    """Latencies (ms), wall seconds and failures (by status code or error name) for `requests` posts with
    `concurrency` in flight."""
    import httpx

    latencies, failures = [], Counter()
    queue = list(range(requests))
    async with httpx.AsyncClient(
        base_url=url, timeout=120, trust_env=False, limits=httpx.Limits(max_connections=concurrency)
    ) as http:

        async def worker() -> None:
            while queue:
                i = queue.pop()
                started = time.perf_counter()
                try:
                    response = await http.post(
                        "/analyze", content=photos[i % len(photos)], headers={"Content-Type": "image/jpeg"}
                    )
                except httpx.TransportError as exc:  # counted, not fatal: the table says how many and which
                    failures[type(exc).__name__] += 1
                    continue
                latencies.append((time.perf_counter() - started) * 1e3)
                if response.status_code != 200:
                    failures[f"HTTP {response.status_code}"] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started, failures


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def measure(photos: list[bytes], batching: bool, levels: list[int], per_level: int, warmup: int) -> dict:
    from serving.local_server import running_server

    env = {"PLATE_SERVING_BATCHING": "true" if batching else "false"}
    results = {}
    with running_server(env) as url:
        asyncio.run(_run(url, photos, 1, warmup))
        for level in levels:
            latencies, wall, failures = asyncio.run(_run(url, photos, level, max(per_level, level * 4)))
            results[level] = {
                "p50": _pct(latencies, 50),
                "p95": _pct(latencies, 95),
                "rps": len(latencies) / wall,
                "failures": failures,
            }
    return results


@app.command()
def main(
    photos: Annotated[Path, typer.Option(help="Folder of JPEG photos (ECUSTFD JPEGImages).")] = Path(
        "../shared/data/ecustfd/JPEGImages"
    ),
    side: Annotated[int, typer.Option(help="Long side the photos are resized to, px.")] = 640,
    count: Annotated[int, typer.Option(help="Distinct photos cycled through.")] = 24,
    per_level: Annotated[int, typer.Option(help="Requests per concurrency level (at least 4 x the level).")] = 40,
    warmup: Annotated[int, typer.Option(help="Requests sent before measuring.")] = 5,
) -> None:
    """Measure batching off, then on, against the same photos; print one table."""
    levels = [1, 4, 16]
    data = load_photos(photos, count, side)
    off = measure(data, False, levels, per_level, warmup)
    on = measure(data, True, levels, per_level, warmup)
    typer.echo(f"\n/analyze on localhost, {len(data)} photos at {side} px, raw JPEG body; ms per request, requests/s")
    typer.echo(
        f"{'concurrency':>11} | {'off p50':>8} {'off p95':>8} {'off rps':>8} | {'on p50':>8} {'on p95':>8} {'on rps':>8} | {'rps on/off':>10}"
    )
    for level in levels:
        a, b = off[level], on[level]
        typer.echo(
            f"{level:>11} | {a['p50']:8.0f} {a['p95']:8.0f} {a['rps']:8.2f} | {b['p50']:8.0f} {b['p95']:8.0f} {b['rps']:8.2f} | "
            f"{b['rps'] / a['rps']:>9.2f}x"
        )
    failures = sum((r["failures"] for r in (*off.values(), *on.values())), Counter())
    typer.echo(
        f"failed requests: {sum(failures.values())} {dict(failures)}; goal: p50 <= 120 ms at concurrency 1, batching >= 1.5x rps at 16"
    )


if __name__ == "__main__":
    app()
