"""ultralytics trains, validates, plots and predicts here without a single network call."""

import socket

import pytest
import yaml
from PIL import Image, ImageDraw

from training.inference.yolo_env import load_ultralytics


def tiny_dataset(root):
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for i in range(4):
            image = Image.new("RGB", (96, 96), (200, 180, 150))
            ImageDraw.Draw(image).ellipse((20 + i, 20, 70 + i, 70), fill=(220, 30, 30))
            image.save(root / "images" / split / f"{i}.jpg")
            (root / "labels" / split / f"{i}.txt").write_text(
                f"0 {(45 + i) / 96:.4f} {45 / 96:.4f} {50 / 96:.4f} {50 / 96:.4f}\n"
            )
    data = root / "data.yaml"
    data.write_text(
        yaml.safe_dump({"path": str(root), "train": "images/train", "val": "images/val", "names": {0: "food"}})
    )
    return data


@pytest.mark.slow
def test_train_val_plot_predict_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("PLATE_CACHE_DIR", str(tmp_path / "cache"))
    attempts = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise OSError(f"network call attempted to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: refuse(None, address))

    ultralytics = load_ultralytics()
    model = ultralytics.YOLO("yolov8n.yaml")
    model.train(
        data=str(tiny_dataset(tmp_path / "data")),
        epochs=1,
        imgsz=64,
        batch=4,
        workers=0,
        device="cpu",
        plots=True,
        project=str(tmp_path / "runs"),
        name="t",
        verbose=False,
        amp=False,
    )
    results = model.predict(str(tmp_path / "data" / "images" / "val" / "0.jpg"), imgsz=64, verbose=False)
    assert len(results) == 1
    assert attempts == []
    assert (tmp_path / "runs" / "t" / "weights" / "last.pt").is_file()
    assert not (tmp_path / "mlflow.db").exists()
