"""Copy the `champion` models from the MLflow registry, and the nutrition table, into the BentoML model store.

`python -m serving.import_models` — the service then declares them by name, so a built Bento carries them.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Annotated

import typer

from nutrition.usda_table import TABLE_FILES as NUTRITION_FILES
from training import model_names, registry

log = logging.getLogger(__name__)

DETECTOR, PORTION = (
    model_names.DETECTOR_MODEL,
    model_names.PORTION_MODEL,
)  # the BentoML store keeps the registry's names
NUTRITION = "nutrition-table"

app = typer.Typer(help=__doc__, add_completion=False, no_args_is_help=False)


class RegistryError(RuntimeError):
    """The MLflow registry cannot be reached, or has no such model or alias."""


def champion_version(client, name: str, alias: str):
    """The registered version behind `name@alias`, with an error that says what to run when it is missing."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        try:
            versions = [v.version for v in client.search_model_versions(f"name='{name}'")]
        except MlflowException:
            versions = []
        if not versions:
            raise RegistryError(
                f"no model {name!r} in the registry at {client.tracking_uri}: run `dvc repro` "
                "(its register stages run every time and register what the registry lacks; "
                "nothing is retrained when the models are in the DVC cache)"
            ) from exc
        raise RegistryError(
            f"{name!r} has versions {sorted(versions)} but none is `{alias}`: its gate has not passed yet "
            f"(see reports/*/registration.json, written by `dvc repro`), or set the alias by hand"
        ) from exc


def import_champion(client, name: str, alias: str):
    """Import `models:/name@alias` into the BentoML store as `name:v<version>-<run id>`, and make it the latest.

    The registry's version numbers restart in every new registry (a fresh clone, a deleted `mlflow.db`), so
    the tag carries the run id too: a `v1` from another registry is never mistaken for this one. The service
    serves the store's latest model of each name, so the champion is (re)imported last.
    """
    import bentoml

    version = champion_version(client, name, alias)
    tag = f"{name}:v{version.version}-{version.run_id[:12]}"
    try:
        existing = bentoml.models.get(tag)
    except bentoml.exceptions.NotFound:
        existing = None
    if existing is not None:
        if str(bentoml.models.get(f"{name}:latest").tag) == str(existing.tag):
            log.info("%s already in the BentoML store, and the latest", tag)
            return existing
        bentoml.models.delete(tag)  # imported before another model of this name: import again to make it latest
    labels = {"registry_name": name, "registry_version": str(version.version), "alias": alias}
    metadata = {"run_id": version.run_id, "tracking_uri": str(client.tracking_uri), "source": version.source}
    return bentoml.mlflow.import_model(tag, f"models:/{name}@{alias}", labels=labels, metadata=metadata)


def import_nutrition(directory: Path):
    """Store the nutrition tables as a BentoML model, versioned by content, so the Bento carries them too."""
    import hashlib

    import bentoml

    missing = [f for f in NUTRITION_FILES if not (directory / f).is_file()]
    if missing:
        raise FileNotFoundError(f"nutrition tables {missing} missing in {directory} (run `dvc repro nutrition_table`)")
    digest = hashlib.sha256(b"".join((directory / f).read_bytes() for f in NUTRITION_FILES)).hexdigest()[:16]
    tag = f"{NUTRITION}:{digest}"
    try:
        return bentoml.models.get(tag)
    except bentoml.exceptions.NotFound:
        pass
    with bentoml.models.create(tag, labels={"sha256_16": digest}) as model:
        for f in NUTRITION_FILES:
            shutil.copyfile(directory / f, Path(model.path) / f)
    return model


def import_all(tracking_uri: str, nutrition_dir: Path, alias: str = model_names.CHAMPION) -> dict[str, str]:
    """Import both champions and the nutrition table; returns {BentoML name: tag}."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)  # `models:/` URIs resolve through the global URI
    mlflow.set_registry_uri(tracking_uri)
    tags = {name: str(import_champion(client, name, alias).tag) for name in (DETECTOR, PORTION)}
    tags[NUTRITION] = str(import_nutrition(nutrition_dir).tag)
    return tags


@app.command()
def main(
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            help=f"MLflow tracking/registry URI (default: $MLFLOW_TRACKING_URI, else {registry.DEFAULT_TRACKING_URI})."
        ),
    ] = None,
    nutrition: Annotated[
        Path | None, typer.Option(help="Nutrition tables folder (default: params paths.nutrition).")
    ] = None,
    alias: Annotated[str, typer.Option(help="Registry alias to serve.")] = model_names.CHAMPION,
) -> None:
    """Import food-detector@champion, portion-estimator@champion and the nutrition table into BentoML."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    uri = tracking_uri or registry.tracking_uri()
    if nutrition is None:
        from training.config import load_params

        nutrition = load_params().paths.nutrition
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        typer.secho(
            f"no MLflow registry at {uri}: run `dvc repro` (it trains what is missing and registers both models)",
            err=True,
            fg="red",
        )
        raise typer.Exit(2)
    try:
        tags = import_all(uri, nutrition, alias)
    except (RegistryError, FileNotFoundError) as exc:
        typer.secho(str(exc), err=True, fg="red")
        raise typer.Exit(2) from exc
    typer.echo("import_models: " + ", ".join(tags.values()))


if __name__ == "__main__":
    app()
