"""The photo's scale reference: the coin when the detector saw one, else a bank card, else the plate's rim (an
ellipse fitted to the plate's outline), else none.

Every measurement is made on a copy resized to `work_px` on its long side, so the same photo at another
resolution gives the same millimetres per (original) pixel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from training.inference.boxes import Box
from training.inference.portion_features import Scale, coin_scale

CARD_MM = (85.6, 53.98)  # ISO/IEC 7810 ID-1: every bank card
CARD_ASPECT = CARD_MM[0] / CARD_MM[1]
DEFAULT_PLATE_MM = 260.0  # a dinner plate; ECUSTFD's are smaller (see `ECUSTFD_PLATES_MM`)
ECUSTFD_PLATES_MM = {"white": 207.0, "coloured": 187.0}


@dataclass(frozen=True)
class ReferenceSettings:
    """How references are looked for, and what size a plate is assumed to be.

    plate_mm: the plate's diameter for a plate of each colour ("white" or "coloured"); a colour not listed gets
    `plate_diameter_mm`. colour_steps, min_fit and min_aspect were chosen on 120 ECUSTFD validation photos,
    the coin's scale as the truth (min_aspect 0: 58 % found, 73 % within 10 %; 0.5: 48 % found, 83 % within
    10 %, side views refused); the other knobs were not chosen on data.
    """

    plate_diameter_mm: float = DEFAULT_PLATE_MM
    plate_mm: dict[str, float] = field(default_factory=dict)
    find_plate: bool = True
    find_card: bool = True
    work_px: int = 480  # long side of the copy every search runs on
    colour_steps: tuple[float, ...] = (1.5, 3.0)  # Lab differences between neighbours still the same surface
    ring: float = 0.25  # how far out around the foods surfaces are grown from (share of the foods' size)
    min_fit: float = 0.6  # share of the ellipse's visible rim the surface's outline must follow
    min_aspect: float = 0.5  # short over long axis at least this: a plate seen more edge-on is not trusted
    min_major: float = 0.25  # the plate's long axis, as a share of the photo's long side, at least...
    max_major: float = 1.6  # ... and at most (a plate may run off the photo)
    white_chroma: float = 14.0  # Lab chroma below which a plate counts as white
    card_aspect_tolerance: float = 0.08
    card_min_area: float = 0.004  # share of the photo a card covers, at least...
    card_max_area: float = 0.25  # ... and at most

    def diameter_mm(self, colour: str) -> float:
        return float(self.plate_mm.get(colour, self.plate_diameter_mm))


@dataclass(frozen=True)
class PlateFit:
    """A plate's rim as an ellipse in original pixels: centre, full axes (major ≥ minor), angle in degrees."""

    cx: float
    cy: float
    major: float
    minor: float
    angle: float
    colour: str  # "white" or "coloured"
    fit: float  # share of the outline on the ellipse

    def box(self) -> Box:
        """The rotated ellipse's axis-aligned bounding box."""
        t = np.deg2rad(self.angle)
        a, b = self.major / 2, self.minor / 2
        half_w = float(np.hypot(a * np.cos(t), b * np.sin(t)))
        half_h = float(np.hypot(a * np.sin(t), b * np.cos(t)))
        return Box(self.cx - half_w, self.cy - half_h, self.cx + half_w, self.cy + half_h)


def _rgb(image) -> np.ndarray:
    array = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected an RGB image, got an array of shape {array.shape}")
    return np.ascontiguousarray(array, dtype=np.uint8)


def _work_copy(rgb: np.ndarray, work_px: int) -> tuple[np.ndarray, float]:
    import cv2

    h, w = rgb.shape[:2]
    factor = work_px / max(h, w)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    return cv2.resize(rgb, size, interpolation=interpolation), factor


def _food_region(foods: Sequence[Box], factor: float, shape: tuple[int, int]) -> tuple[np.ndarray, Box]:
    """A mask of the food boxes on the work copy, and their union box (the photo's middle third if none)."""
    h, w = shape
    mask = np.zeros((h, w), np.uint8)
    if not foods:
        return mask, Box(w / 3, h / 3, 2 * w / 3, 2 * h / 3)
    for b in foods:
        x0, y0 = max(0, int(b.xmin * factor)), max(0, int(b.ymin * factor))
        x1, y1 = min(w, int(np.ceil(b.xmax * factor))), min(h, int(np.ceil(b.ymax * factor)))
        mask[y0:y1, x0:x1] = 1
    union = Box(
        min(b.xmin for b in foods) * factor,
        min(b.ymin for b in foods) * factor,
        max(b.xmax for b in foods) * factor,
        max(b.ymax for b in foods) * factor,
    )
    return mask, union


def _seeds(food_mask: np.ndarray, union: Box, ring: float) -> list[tuple[int, int]]:
    """Points just outside the foods where the plate should show: eight around their union box, at `ring` of
    its size out, and the gaps between foods."""
    h, w = food_mask.shape
    grow = ring * max(union.width, union.height, 0.1 * max(h, w))
    cx, cy = (union.xmin + union.xmax) / 2, (union.ymin + union.ymax) / 2
    rx, ry = union.width / 2 + grow, union.height / 2 + grow
    points = [(cx + rx * np.cos(t), cy + ry * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 8, endpoint=False)]
    # In a side view the plate is a thin band under the food: just below it, and beside its bottom corners.
    step = 0.08 * max(union.height, 0.05 * max(h, w))
    points += [(cx, union.ymax + step), (union.xmin - step, union.ymax - step), (union.xmax + step, union.ymax - step)]
    points += [(cx, cy)]
    seeds = []
    for x, y in points:
        x, y = int(np.rint(x)), int(np.rint(y))
        if 0 <= x < w and 0 <= y < h and not food_mask[y, x]:
            seeds.append((x, y))
    return seeds


def _inside(points: np.ndarray, ellipse) -> bool:
    (cx, cy), (d1, d2), angle = ellipse
    t = np.deg2rad(angle)
    dx, dy = points[:, 0] - cx, points[:, 1] - cy
    u = dx * np.cos(t) + dy * np.sin(t)
    v = -dx * np.sin(t) + dy * np.cos(t)
    return bool(np.all((u / (d1 / 2)) ** 2 + (v / (d2 / 2)) ** 2 <= 1))


def _support(ellipse, outline: np.ndarray, near_food: np.ndarray) -> float:
    """Share of the ellipse's rim that the region's outline follows, where the rim is in the photo and not behind
    a food; 0 when less than half the rim is in the photo (a region that is mostly the photo's edge)."""
    import cv2

    h, w = near_food.shape
    (cx, cy), (d1, d2), angle = ellipse
    t = np.linspace(0, 2 * np.pi, 240, endpoint=False)
    a = np.deg2rad(angle)
    x = cx + d1 / 2 * np.cos(t) * np.cos(a) - d2 / 2 * np.sin(t) * np.sin(a)
    y = cy + d1 / 2 * np.cos(t) * np.sin(a) + d2 / 2 * np.sin(t) * np.cos(a)
    inside = (x >= 0) & (y >= 0) & (x <= w - 1) & (y <= h - 1)
    if inside.mean() < 0.5:
        return 0.0
    xi, yi = x[inside].astype(int), y[inside].astype(int)
    visible = ~near_food[yi, xi]
    if visible.sum() < 0.3 * len(t):
        return 0.0
    drawn = np.full((h, w), 255, np.uint8)
    drawn[outline[:, 1], outline[:, 0]] = 0
    distance = cv2.distanceTransform(drawn, cv2.DIST_L2, 3)
    tolerance = max(2.0, 0.015 * max(d1, d2))
    return float(np.mean(distance[yi[visible], xi[visible]] <= tolerance))


def _grow(lab: np.ndarray, seed: tuple[int, int], step: float) -> np.ndarray:
    """The surface around `seed`: neighbours within `step` (Lab) of each other, so shading across a plate stays in."""
    import cv2

    h, w = lab.shape[:2]
    fill = np.zeros((h + 2, w + 2), np.uint8)
    cv2.floodFill(lab, fill, seed, 0, (step,) * 3, (step,) * 3, 4 | cv2.FLOODFILL_MASK_ONLY | (255 << 8))
    return fill[1:-1, 1:-1] > 0


def _rim(region: np.ndarray, food_mask: np.ndarray, near_food: np.ndarray):
    """The ellipse fitted to a region's outline (foods filled in), where the outline is neither the photo's edge
    nor a food's; and the outline. None if too little of it is left."""
    import cv2

    h, w = region.shape
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    region = cv2.morphologyEx(region.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    region = cv2.morphologyEx(region | food_mask, cv2.MORPH_CLOSE, kernel)
    contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outline = max(contours, key=len).reshape(-1, 2)
    x, y = outline[:, 0], outline[:, 1]
    keep = (x > 1) & (y > 1) & (x < w - 2) & (y < h - 2) & ~near_food[y, x]
    if keep.sum() < 20:
        return None
    return cv2.fitEllipse(outline[keep].astype(np.float32)), outline


def find_plate(image, foods: Sequence[Box], settings: ReferenceSettings = ReferenceSettings()) -> PlateFit | None:
    """The plate under the foods: of the surfaces grown from points around them, the one most like an ellipse
    that holds them.

    The outline points on the photo's border or against a food box are left out of the fit: a plate running off
    the photo, or partly hidden behind a food, is still an ellipse where it shows.
    """
    import cv2

    small, factor = _work_copy(_rgb(image), settings.work_px)
    h, w = small.shape[:2]
    lab = cv2.cvtColor(cv2.GaussianBlur(small, (5, 5), 0), cv2.COLOR_RGB2LAB).astype(np.float32)
    food_mask, union = _food_region(foods, factor, (h, w))
    near_food = cv2.dilate(food_mask, np.ones((7, 7), np.uint8)).astype(bool)
    centres = np.array([[(b.xmin + b.xmax) / 2 * factor, (b.ymin + b.ymax) / 2 * factor] for b in foods])
    if not len(centres):
        centres = np.array([[(union.xmin + union.xmax) / 2, (union.ymin + union.ymax) / 2]])
    min_major = max(settings.min_major * max(h, w), 1.05 * max(union.width, union.height))
    best = None
    seeds = _seeds(food_mask, union, settings.ring)
    for step in settings.colour_steps:
        covered = np.zeros((h, w), bool)
        for x, y in seeds:
            if covered[y, x]:
                continue  # the surface of an earlier seed
            region = _grow(lab, (x, y), step)
            covered |= region
            found = _rim(region, food_mask, near_food) if region.sum() >= 0.01 * h * w else None
            if found is None:
                continue
            ellipse, outline = found
            (ex, ey), (d1, d2), angle = ellipse
            major = max(d1, d2)
            if not min_major <= major <= settings.max_major * max(h, w) or min(d1, d2) < settings.min_aspect * major:
                continue
            fit = _support(ellipse, outline, near_food)
            if fit < settings.min_fit or not _inside(centres, ellipse) or (best is not None and fit <= best[0]):
                continue
            colour = lab[region & ~food_mask.astype(bool)].mean(axis=0)
            chroma = float(np.hypot(colour[1] - 128, colour[2] - 128))
            best = (fit, ex, ey, major, min(d1, d2), angle if d1 >= d2 else angle + 90, chroma)
    if best is None:
        return None
    fit, cx, cy, major, minor, angle, chroma = best
    colour = "white" if chroma < settings.white_chroma else "coloured"
    return PlateFit(cx / factor, cy / factor, major / factor, minor / factor, angle % 180, colour, fit)


def find_card(image, settings: ReferenceSettings = ReferenceSettings()) -> tuple[Box, float] | None:
    """A bank card seen from above: a convex quadrilateral whose sides are in the ratio 85.6 : 53.98.

    Returns:
        its bounding box and its long side, in original pixels; None if no such shape.
    """
    import cv2

    rgb = _rgb(image)
    small, factor = _work_copy(rgb, settings.work_px)
    grey = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), (5, 5), 0)
    edges = cv2.dilate(cv2.Canny(grey, 40, 120), np.ones((3, 3), np.uint8))
    contours, _ = cv2.findContours(edges, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    area_px = small.shape[0] * small.shape[1]
    best = None
    for contour in contours:
        area = cv2.contourArea(contour)
        if not settings.card_min_area * area_px <= area <= settings.card_max_area * area_px:
            continue
        quad = cv2.approxPolyDP(contour, 0.02 * cv2.arcLength(contour, True), True)
        if len(quad) != 4 or not cv2.isContourConvex(quad):
            continue
        q = quad.reshape(4, 2).astype(np.float64)
        sides = np.linalg.norm(q - np.roll(q, 1, axis=0), axis=1)
        long_side, short_side = (sides[0] + sides[2]) / 2, (sides[1] + sides[3]) / 2
        if short_side > long_side:
            long_side, short_side = short_side, long_side
        # Opposite sides of equal length and right angles: a card seen from above, not any tilted rectangle.
        if abs(sides[0] - sides[2]) > 0.06 * long_side or abs(sides[1] - sides[3]) > 0.06 * long_side:
            continue
        corners = [np.dot(q[i] - q[i - 1], q[(i + 1) % 4] - q[i]) for i in range(4)]
        if max(abs(c) for c in corners) > 0.12 * long_side * short_side:
            continue
        if abs(long_side / short_side - CARD_ASPECT) > settings.card_aspect_tolerance * CARD_ASPECT:
            continue
        if area < 0.9 * long_side * short_side:
            continue
        if best is None or area > best[0]:
            x, y, bw, bh = cv2.boundingRect(quad)
            best = (area, Box(x / factor, y / factor, (x + bw) / factor, (y + bh) / factor), long_side / factor)
    return None if best is None else (best[1], best[2])


def plate_scale(plate: PlateFit, settings: ReferenceSettings) -> Scale:
    """A tilted circle shows its full diameter along the ellipse's long axis."""
    ellipse = (plate.cx, plate.cy, plate.major, plate.minor, plate.angle)
    return Scale("plate", settings.diameter_mm(plate.colour) / plate.major, plate.box(), ellipse)


def find_reference(image, coin: Box | None, foods: Sequence[Box], settings: ReferenceSettings) -> Scale:
    """The photo's scale: the coin when there is one, else a card, else the plate, else kind "none".

    Raises:
        PortionInputError: a coin box with no area or outside the image.
    """
    rgb = _rgb(image)
    height, width = rgb.shape[:2]
    if coin is not None:
        return coin_scale(coin, width, height)
    if settings.find_card:
        card = find_card(rgb, settings)
        if card is not None:
            box, long_side = card
            return Scale("card", CARD_MM[0] / long_side, box)
    if settings.find_plate:
        plate = find_plate(rgb, foods, settings)
        if plate is not None:
            return plate_scale(plate, settings)
    return Scale("none", None)


def served_settings(meta: Mapping[str, Any] | None) -> ReferenceSettings:
    """The reference settings a served photo is measured with: the plate size shipped in the portion model's
    meta (params `train_portion.plate_diameter_mm`), else the default dinner plate."""
    diameter = (meta or {}).get("plate_diameter_mm")
    return ReferenceSettings(plate_diameter_mm=float(diameter)) if diameter else ReferenceSettings()


__all__ = [
    "CARD_MM",
    "DEFAULT_PLATE_MM",
    "ECUSTFD_PLATES_MM",
    "PlateFit",
    "ReferenceSettings",
    "find_card",
    "find_plate",
    "find_reference",
    "plate_scale",
    "served_settings",
]
