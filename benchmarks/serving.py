"""Benchmark a real `bentoml serve` on localhost: today's path (two services, the full-size photo shipped between
them, torch) beside the fast one (JPEG draft decoding, ONNX Runtime, one process) and the fast one still split in
two, in one run: p50/p95 and requests/s at concurrency 1, 4 and 16 for 640-px, 1600 x 1200 and 12-MP JPEGs, and
where the time goes (the server's `timings_ms`, medians at concurrency 1).

    python -m benchmarks.serving --photos ../shared/data/ecustfd/JPEGImages

Needs the models in the BentoML store (`python -m serving.import_models`). Photos are resized to each size and sent
as the raw JPEG body, as the bot does. Each cell runs for about --seconds (at least one request per client), so
today's 10-s answers to 12-MP photos do not take the whole hour.
"""

from __future__ import annotations

import asyncio
import io
import os
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help=__doc__, add_completion=False)

PATHS = {
    # torch's own default: as many intra-op threads as cores
    "today": {
        "PLATE_SERVING_SPLIT": "true",
        "PLATE_SERVING_RUNTIME": "torch",
        "PLATE_SERVING_DRAFT_PX": "0",
        "PLATE_SERVING_THREADS": str(len(os.sched_getaffinity(0))),
    },
    "split+fast": {"PLATE_SERVING_SPLIT": "true"},
    "fast": {"PLATE_SERVING_SPLIT": "false"},
}
SIZES = {"640px": (640, 480), "1600x1200": (1600, 1200), "12MP": (4032, 3024)}
LEVELS = (1, 4, 16)
SPLIT_FIELDS = ("decode", "wait", "localiser", "crops", "portion", "nutrition", "total")


def load_photos(folder: Path, count: int, size: tuple[int, int]) -> list[bytes]:
    """`count` ECUSTFD photos spread over the folder, resized to `size` (landscape) and saved as JPEG quality 90."""
    from PIL import Image

    paths = sorted(folder.glob("*.JPG")) + sorted(folder.glob("*.jpg"))
    if not paths:
        raise typer.BadParameter(f"no .jpg photos in {folder}")
    step = max(1, len(paths) // count)
    out = []
    for path in paths[::step][:count]:
        with Image.open(path) as image:
            image = image.convert("RGB")
            if image.height > image.width:
                image = image.rotate(90, expand=True)
            buffer = io.BytesIO()
            image.resize(size, Image.BICUBIC).save(buffer, format="JPEG", quality=90)
            out.append(buffer.getvalue())
    return out


async def _run(url: str, photos: list[bytes], concurrency: int, seconds: float) -> dict:
    """`concurrency` clients posting photos back to back for about `seconds` (each at least once): latencies (ms),
    wall seconds, failures (by status code or error name) and the answers' timings."""
    import httpx

    latencies, failures, timings = [], Counter(), []
    deadline = time.perf_counter() + seconds
    sent = iter(range(1_000_000))
    async with httpx.AsyncClient(
        base_url=url, timeout=300, trust_env=False, limits=httpx.Limits(max_connections=concurrency)
    ) as http:

        async def client() -> None:
            first = True
            while first or time.perf_counter() < deadline:
                first, i = False, next(sent)
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
                else:
                    timings.append(response.json()["timings_ms"])

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
    return {"latencies": latencies, "wall": time.perf_counter() - started, "failures": failures, "timings": timings}


def _pct(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def measure(env: dict[str, str], photos: dict[str, list[bytes]], seconds: float) -> dict:
    """One server with `env`, every size at every concurrency level."""
    from serving.local_server import running_server

    results = {}
    with running_server(env) as url:
        for size, data in photos.items():
            asyncio.run(_run(url, data, 1, 0))  # warm-up: one request
            for level in LEVELS:
                run = asyncio.run(_run(url, data, level, seconds))
                ok = run["timings"]
                results[size, level] = {
                    "p50": _pct(run["latencies"], 50),
                    "p95": _pct(run["latencies"], 95),
                    "rps": len(ok) / run["wall"],
                    "n": len(run["latencies"]),
                    "failures": run["failures"],
                    "split": {f: statistics.median(t.get(f, 0.0) for t in ok) for f in SPLIT_FIELDS} if ok else {},
                }
    return results


def report(results: dict[str, dict], photos: dict[str, list[bytes]]) -> None:
    names = list(results)
    for size, data in photos.items():
        kb = sum(map(len, data)) / len(data) / 1e3
        typer.echo(f"\n{size} JPEG ({kb:.0f} KB on average), /analyze on localhost: p50 / p95 ms, requests/s (n)")
        typer.echo(f"{'clients':>7} | " + " | ".join(f"{n:^26}" for n in names) + " | fast rps / today")
        for level in LEVELS:
            cells = [results[n][size, level] for n in names]
            row = " | ".join(f"{c['p50']:6.0f} {c['p95']:6.0f} {c['rps']:6.2f} ({c['n']:3d})" for c in cells)
            ratio = results["fast"][size, level]["rps"] / max(results["today"][size, level]["rps"], 1e-9)
            typer.echo(f"{level:>7} | {row} | {ratio:6.1f}x")
        typer.echo("  time split at 1 client, median ms: " + ", ".join(SPLIT_FIELDS))
        for n in names:
            split = results[n][size, 1]["split"]
            typer.echo(f"  {n:>10}: " + " ".join(f"{split.get(f, float('nan')):7.1f}" for f in SPLIT_FIELDS))
    failures = {n: sum((r["failures"] for r in results[n].values()), Counter()) for n in names}
    typer.echo(f"\nfailed requests: { ({n: dict(f) for n, f in failures.items()}) }")
    fast, today = results["fast"], results["today"]
    goals = [
        *(("1600x1200 p50 <= 120 ms at 1 client", fast[s, 1]["p50"] <= 120) for s in photos if s == "1600x1200"),
        *(("1600x1200 p95 <= 250 ms at 1 client", fast[s, 1]["p95"] <= 250) for s in photos if s == "1600x1200"),
        *(("12MP p50 <= 300 ms at 1 client", fast[s, 1]["p50"] <= 300) for s in photos if s == "12MP"),
        *((f"{s} rps at 4 clients >= 3x today's", fast[s, 4]["rps"] >= 3 * today[s, 4]["rps"]) for s in photos),
        ("no refusals at 4 clients", all(not r[s, 4]["failures"] for r in (fast,) for s in photos)),
    ]
    for goal, met in goals:
        typer.echo(f"goal {goal}: {'met' if met else 'NOT met'}")


@app.command()
def main(
    photos: Annotated[Path, typer.Option(help="Folder of JPEG photos (ECUSTFD JPEGImages).")] = Path(
        "../shared/data/ecustfd/JPEGImages"
    ),
    count: Annotated[int, typer.Option(help="Distinct photos cycled through.")] = 8,
    seconds: Annotated[float, typer.Option(help="About how long each cell runs.")] = 12.0,
    paths: Annotated[str, typer.Option(help="Comma-separated paths to compare: " + ", ".join(PATHS))] = ",".join(PATHS),
    sizes: Annotated[str, typer.Option(help="Comma-separated photo sizes: " + ", ".join(SIZES))] = ",".join(SIZES),
) -> None:
    """Start a server for each path in turn, measure it, print one table per photo size."""
    chosen = [p.strip() for p in paths.split(",")]
    unknown = set(chosen) - set(PATHS) | ({"today", "fast"} - set(chosen))
    if unknown:
        raise typer.BadParameter(f"paths must include today and fast, from {list(PATHS)}; not {sorted(unknown)}")
    data = {name.strip(): load_photos(photos, count, SIZES[name.strip()]) for name in sizes.split(",")}
    results = {name: measure(PATHS[name], data, seconds) for name in chosen}
    report(results, data)


if __name__ == "__main__":
    app()
