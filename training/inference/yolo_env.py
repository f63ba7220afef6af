"""Import ultralytics so that it never reaches for the network and never writes to the home directory.

ultralytics, left alone, checks connectivity, downloads fonts for its plots, may pip-install missing
packages, syncs events to its hub, and lets its own MLflow/DVC callbacks create files wherever it runs.
`load_ultralytics()` switches each of these off before and right after the import.
"""

from __future__ import annotations

import logging
import os
import shutil
from functools import cache
from pathlib import Path
from types import ModuleType

log = logging.getLogger(__name__)

CACHE_ENV = "PLATE_CACHE_DIR"
# Integrations we do ourselves (MLflow, DVC) or never want (hub sync, third-party trackers).
_SETTINGS_OFF = (
    "sync",
    "mlflow",
    "dvc",
    "clearml",
    "comet",
    "raytune",
    "tensorboard",
    "wandb",
    "vscode_msg",
    "openvino_msg",
)
_FONTS = ("Arial.ttf", "Arial.Unicode.ttf")


def cache_dir() -> Path:
    """The project's cache folder: $PLATE_CACHE_DIR, else `.cache/` in the working directory."""
    return Path(os.environ.get(CACHE_ENV, Path.cwd() / ".cache")).resolve()


def _install_fonts(config_dir: Path) -> None:
    """ultralytics downloads Arial for plot labels; give it matplotlib's bundled DejaVu Sans instead."""
    from matplotlib import get_data_path

    source = Path(get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    config_dir.mkdir(parents=True, exist_ok=True)
    for name in _FONTS:
        target = config_dir / name
        if not target.exists():
            shutil.copyfile(source, target)


@cache
def load_ultralytics() -> ModuleType:
    """Return the `ultralytics` module, imported offline-safe (idempotent).

    Environment values set by the user win over ours; `YOLO_CONFIG_DIR` defaults to `<cache>/ultralytics`.
    """
    import sys

    import training.inference.torch_compat  # noqa: F401 — must precede torchvision, which ultralytics imports

    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(cache_dir() / "ultralytics"))
    os.environ.setdefault("MPLCONFIGDIR", str(cache_dir() / "matplotlib"))
    config_dir = Path(os.environ["YOLO_CONFIG_DIR"]) / "Ultralytics"
    if "ultralytics" in sys.modules:
        log.warning("ultralytics was imported before load_ultralytics(); its settings may live elsewhere")
    _install_fonts(config_dir)

    import ultralytics
    from ultralytics.utils import SETTINGS

    wanted = {key: False for key in _SETTINGS_OFF if key in SETTINGS}
    wanted["runs_dir"] = str(cache_dir() / "ultralytics" / "runs")
    wanted["weights_dir"] = str(cache_dir() / "ultralytics" / "weights")
    if any(SETTINGS.get(k) != v for k, v in wanted.items()):
        SETTINGS.update(wanted)
    return ultralytics
