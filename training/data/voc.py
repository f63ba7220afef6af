"""Pascal-VOC annotation files: parse one XML into typed boxes, with clear errors for broken files."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from training.inference.boxes import Box


class VocParseError(ValueError):
    """An annotation file is missing, not XML, or lacks a required field."""


@dataclass(frozen=True)
class VocObject:
    label: str
    box: Box


@dataclass(frozen=True)
class VocAnnotation:
    filename: str
    width: int
    height: int
    objects: tuple[VocObject, ...]


def _text(node: ET.Element, path: str, source: Path) -> str:
    found = node.find(path)
    if found is None or found.text is None or not found.text.strip():
        raise VocParseError(f"{source}: required field <{path}> is missing or empty")
    return found.text.strip()


def _number(node: ET.Element, path: str, source: Path) -> float:
    raw = _text(node, path, source)
    try:
        return float(raw)
    except ValueError as exc:
        raise VocParseError(f"{source}: <{path}> is not a number: {raw!r}") from exc


def parse_voc(path: Path | str) -> VocAnnotation:
    """Parse one VOC XML file.

    Boxes that spill over the image border by a few pixels (common in hand labelling) are clipped;
    boxes with no area after clipping are an error.

    Raises:
        VocParseError: the file is missing, malformed, or has an invalid field or box.
    """
    path = Path(path)
    if not path.is_file():
        raise VocParseError(f"annotation file not found: {path}")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise VocParseError(f"{path}: not well-formed XML ({exc})") from exc

    width = int(_number(root, "size/width", path))
    height = int(_number(root, "size/height", path))
    if width <= 0 or height <= 0:
        raise VocParseError(f"{path}: image size {width}x{height} is not positive")

    objects = []
    for i, obj in enumerate(root.findall("object")):
        label = _text(obj, "name", path).lower()
        raw = Box(*(_number(obj, f"bndbox/{k}", path) for k in ("xmin", "ymin", "xmax", "ymax")))
        box = raw.clipped(width, height)
        if box.width <= 0 or box.height <= 0:
            raise VocParseError(f"{path}: object {i} ({label}) has an empty box {raw} in a {width}x{height} image")
        objects.append(VocObject(label, box))
    return VocAnnotation(_text(root, "filename", path), width, height, tuple(objects))
