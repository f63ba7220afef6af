"""Start the model server, send it one real photo from the configured ECUSTFD copy, print the JSON, stop.

`python -m serving.try_server` (the last step of `make run`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help=__doc__, add_completion=False)


@app.command()
def main(
    photo: Annotated[
        Path | None, typer.Option(help="Photo to send (default: the first of params paths.raw_ecustfd).")
    ] = None,
    then: Annotated[
        str | None,
        typer.Option(
            help="A command to run while the server is still up, with BOT_SERVING_URL "
            "set to it and {photo} replaced by the photo's path."
        ),
    ] = None,
) -> None:
    """Serve, analyse one photo over HTTP as the bot does, print the answer."""
    import httpx

    from serving.local_server import running_server

    if photo is None:
        from training.config import load_params

        photos = sorted((load_params().paths.raw_ecustfd / "JPEGImages").glob("*.JPG"))
        if not photos:
            raise typer.BadParameter("no photos in params paths.raw_ecustfd/JPEGImages: run `dvc repro` first")
        photo = photos[0]
    with running_server() as url:
        typer.echo(f"model server ready at {url}; POST /analyze {photo.name}")
        response = httpx.post(
            url + "/analyze",
            content=photo.read_bytes(),
            headers={"Content-Type": "image/jpeg"},
            timeout=60,
            trust_env=False,
        )
        typer.echo(json.dumps(response.json(), indent=2))
        if response.status_code != 200:
            raise typer.Exit(1)
        if then:
            import os
            import shlex
            import subprocess

            command = [part.replace("{photo}", str(photo)) for part in shlex.split(then)]
            typer.echo(f"\n$ {' '.join(command)}")
            done = subprocess.run(command, env={**os.environ, "BOT_SERVING_URL": url})
            if done.returncode != 0:
                raise typer.Exit(done.returncode)


if __name__ == "__main__":
    app()
