"""Start the model server, send it real photos (ECUSTFD with and without its coin, and foods outside ECUSTFD),
print what it answers, stop.

`python -m serving.try_server` (the last step of `make run`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help=__doc__, add_completion=False)


NO_COIN_PHOTO = "mix002T(2).JPG"  # one of ECUSTFD's two photos without a coin


def default_photos() -> list[Path]:
    """A photo of ECUSTFD with its coin, one without a coin, and the sample photos of foods outside ECUSTFD."""
    from training.config import load_params

    paths = load_params().paths
    photos = sorted((paths.raw_ecustfd / "JPEGImages").glob("*.JPG"))
    if not photos:
        raise typer.BadParameter("no photos in params paths.raw_ecustfd/JPEGImages: run `dvc repro` first")
    chosen = [photos[0]] + [p for p in photos if p.name == NO_COIN_PHOTO]
    return chosen + sorted(p for p in Path(paths.samples).glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def summary(answer: dict) -> str:
    """One line per item: name (or its guesses), grams and what they rest on; then the scale and the hint."""
    lines = []
    for item in answer["items"]:
        if item["kcal"] is None:
            guesses = ", ".join(f"{s['name']} {s['probability']:.0%} ({s['source']})" for s in item["suggestions"])
            lines.append(f"  unknown — suggestions: {guesses or 'none'}")
        else:
            lines.append(
                f"  {item['name']} by {item['recognised_by']}: {item['grams']:.0f} g "
                f"[{item['grams_low']:.0f}, {item['grams_high']:.0f}] ({item['grams_basis']}), {item['kcal']:.0f} kcal"
            )
    lines.append(f"  scale: {answer['reference']['kind']}; whole photo: {answer.get('whole_photo', False)}")
    if answer.get("hint"):
        lines.append(f"  hint: {answer['hint']}")
    return "\n".join(lines)


@app.command()
def main(
    photo: Annotated[
        list[Path] | None,
        typer.Option(
            help="Photo to send, repeatable (default: an ECUSTFD photo with its coin, one without, and the sample "
            "photos of params paths.samples).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    then: Annotated[
        str | None,
        typer.Option(
            help="A command to run while the server is still up, with BOT_SERVING_URL set to it and {photos} "
            "replaced by the photos' paths ({photo}: the first one's)."
        ),
    ] = None,
) -> None:
    """Serve, analyse each photo over HTTP as the bot does, print the first answer whole and a summary of each."""
    import mimetypes

    import httpx

    from serving.local_server import running_server

    photos = photo or default_photos()
    with running_server() as url:
        for i, path in enumerate(photos):
            typer.echo(f"\nmodel server ready at {url}; POST /analyze {path.name}" if i == 0 else f"\n{path.name}")
            response = httpx.post(
                url + "/analyze",
                content=path.read_bytes(),
                headers={"Content-Type": mimetypes.guess_type(path.name)[0] or "image/jpeg"},
                timeout=60,
                trust_env=False,
            )
            if response.status_code != 200:
                typer.echo(response.text, err=True)
                raise typer.Exit(1)
            typer.echo(json.dumps(response.json(), indent=2) if i == 0 else summary(response.json()))
        if then:
            import os
            import shlex
            import subprocess

            command = []
            for part in shlex.split(then):
                if part == "{photos}":
                    command.extend(str(p) for p in photos)
                else:
                    command.append(part.replace("{photo}", str(photos[0])))
            typer.echo(f"\n$ {' '.join(command)}")
            done = subprocess.run(command, env={**os.environ, "BOT_SERVING_URL": url})
            if done.returncode != 0:
                raise typer.Exit(done.returncode)


if __name__ == "__main__":
    app()
