"""Photo bytes → the AnalyzeResponse: decode the upload, ask the models, add nutrition, time each step.

The models are `training.inference.plate.PlateModels` (in this process, or the batching model service);
this module is the framework-free half of the web layer, `serving/service.py` the BentoML half.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

from PIL import Image

from nutrition import NutritionTable, UnknownFoodError
from serving.image_input import ImageLimits, decode_image, photo_size
from serving.schemas import (
    UNKNOWN,
    AnalyzeResponse,
    BoxOut,
    ImageInfo,
    Item,
    ModelVersion,
    Reference,
    Suggestion,
    Totals,
)
from training.inference.plate import FoodFinding, PlateFindings, rescaled

log = logging.getLogger(__name__)

NO_FOOD_HINT = "No food found in this photo. Try again with the whole plate in view, from above, in good light."
NO_REFERENCE_HINT = (
    "Nothing in the photo shows its scale, so the grams are typical portions and the ranges are wide. "
    "For better grams, photograph the whole plate from above, or put a bank card or a coin beside the food."
)
PLATE_HINT = (
    "Sized from the plate, assumed to be a dinner plate; a bank card or a coin beside the food sizes it better."
)
UNKNOWN_HINT = "Something here is a food I don't know yet: tell me what it is and I'll count it."
UNKNOWN_DISPLAY = "Something I don't recognise"


def _box(xyxy: tuple[float, float, float, float]) -> BoxOut:
    return BoxOut(xmin=xyxy[0], ymin=xyxy[1], xmax=xyxy[2], ymax=xyxy[3])


class MealAnalyzer:
    """Photo bytes → AnalyzeResponse: decode → models → nutrition, with per-stage timings.

    Args:
        models: a callable from a list of images to PlateFindings (a `PlateModels`, or a remote batcher).
        nutrition: kcal and macros per food and grams.
        versions: {"detector": ModelVersion, "portion": ModelVersion} reported in every answer.
        namer: a cloud namer (`serving.namers.namer_from_env()`, off by default) asked about each food our models
            answer `unknown`: its suggestions come first, and its best one names the food from `namer_accept` when
            the food has grams. It blocks on the network: call `respond` off the event loop.
        draft_px: JPEGs are decoded down to this long side (None: at full size); the models see the smaller image,
            the answer's boxes and image size are the photo's own.
    """

    def __init__(
        self,
        models: Callable[[list[Image.Image]], list[PlateFindings]] | None,
        nutrition: NutritionTable,
        versions: dict[str, ModelVersion],
        limits: ImageLimits = ImageLimits(),
        namer=None,
        namer_accept: float = 0.6,
        draft_px: int | None = None,
    ):
        self.models, self.nutrition, self.versions, self.limits = models, nutrition, versions, limits
        self.namer, self.namer_accept, self.draft_px = namer, namer_accept, draft_px

    def decode(self, data: bytes) -> tuple[Image.Image, float]:
        """The upright RGB image and the ms it took. Raises `ImageRejected` (4xx) for bad uploads."""
        started = time.perf_counter()
        image = decode_image(data, self.limits, self.draft_px)
        return image, (time.perf_counter() - started) * 1e3

    def analyze(self, data: bytes, embed: bool = False) -> tuple[AnalyzeResponse, Image.Image]:
        """The whole analysis of one photo, in this process."""
        started = time.perf_counter()
        image, decode_ms = self.decode(data)
        models_started = time.perf_counter()
        (findings,) = self.models([image])
        models_ms = (time.perf_counter() - models_started) * 1e3
        return self.respond(image, findings, {"decode": decode_ms, "models": models_ms}, started, embed), image

    def respond(
        self,
        image: Image.Image,
        findings: PlateFindings,
        timings_ms: dict[str, float],
        started: float,
        embed: bool = False,
    ) -> AnalyzeResponse:
        """Add nutrients and totals to the model findings; `started` is the perf_counter at request start;
        `embed`: each item carries its crop embedding."""
        nutrition_started = time.perf_counter()
        usage: list[dict] = []
        foods = [self.ask_namer(image, food, usage) if food.name == UNKNOWN else food for food in findings.foods]
        width, height = photo_size(image)  # the boxes go out in the photo's pixels, not the decoded copy's
        findings = rescaled(dataclasses.replace(findings, foods=foods), width / image.width)
        foods = findings.foods
        items = [item for item in (self.item(food, embed) for food in foods) if item is not None]
        named = [i for i in items if i.kcal is not None]
        totals = Totals(
            grams=sum(i.grams for i in named),
            kcal=sum(i.kcal for i in named),
            protein_g=sum(i.protein_g for i in named),
            fat_g=sum(i.fat_g for i in named),
            carbs_g=sum(i.carbs_g for i in named),
            unknown_items=len(items) - len(named),
        )
        hint = hint_for(items, findings)
        reference = Reference(
            kind=findings.reference,
            box=_box(findings.reference_box) if findings.reference_box else None,
            mm_per_px=findings.mm_per_px,
        )
        timings = {**{k: v for k, v in findings.timings_ms.items() if k != "batch_size"}, **timings_ms}
        timings["nutrition"] = (time.perf_counter() - nutrition_started) * 1e3
        timings["total"] = (time.perf_counter() - started) * 1e3
        return AnalyzeResponse(
            items=items,
            reference=reference,
            totals=totals,
            image=ImageInfo(width=width, height=height),
            models=self.versions,
            timings_ms={k: round(v, 2) for k, v in timings.items()},
            whole_photo=findings.whole_photo,
            usage=usage,
            hint=hint,
        )

    def ask_namer(self, image: Image.Image, food: FoodFinding, usage: list[dict]) -> FoodFinding:
        """An unknown food as the cloud namer sees it: its suggestions first; named by its best one when that is
        sure enough, priced by our table, and the food has grams. The call's cost goes into `usage`."""
        if self.namer is None:
            return food
        started = time.perf_counter()
        suggestions, cost = self.namer.name(image, box=food.box)
        usage.append({**cost.as_dict(), "ms": round((time.perf_counter() - started) * 1e3, 1)})
        cloud = [
            {"name": s.name, "display": s.display, "probability": s.probability, "source": s.source, "ndb": s.ndb}
            for s in suggestions
        ]
        merged = tuple(cloud + [s for s in food.suggestions if s["name"] not in {c["name"] for c in cloud}])[:3]
        best = suggestions[0] if suggestions else None
        if best is not None and best.probability >= self.namer_accept and food.grams is not None:
            key = best.name if self._known(best.name) else best.ndb if best.ndb and self._known(best.ndb) else None
            if key is not None:
                rest = tuple(s for s in merged if s["name"] != best.name)
                return dataclasses.replace(
                    food,
                    name=best.name,
                    ndb=best.ndb,
                    display=best.display,
                    confidence=best.probability,
                    recognised_by=best.source,
                    suggestions=rest,
                )
        return dataclasses.replace(food, suggestions=merged)

    def _known(self, key: str) -> bool:
        try:
            self.nutrition.facts(key)
        except UnknownFoodError:
            return False
        return True

    def item(self, food: FoodFinding, embed: bool = False) -> Item | None:
        """The response item for one finding: nutrients for a named food, none for an unknown one; None (left
        out, logged) for a name the nutrition table lacks, which is a packaging bug, not the photo's fault."""
        suggestions = [self.suggestion(s) for s in food.suggestions]
        common = {
            "confidence": min(1.0, max(0.0, food.confidence)),
            "box": _box(food.box),
            "grams": food.grams,
            "grams_low": food.grams_low,
            "grams_high": food.grams_high,
            "grams_basis": food.grams_basis if food.grams is not None else "none",
            "portion": food.portion,
            "suggestions": [s for s in suggestions if s is not None][:3],
            "embedding": food.embedding if embed else None,
        }
        if food.name == UNKNOWN:
            return Item(
                name=UNKNOWN,
                display_name=UNKNOWN_DISPLAY,
                ndb=None,
                recognised_by=None,
                kcal=None,
                protein_g=None,
                fat_g=None,
                carbs_g=None,
                **common,
            )
        # An ECUSTFD type by its name (its grams weigh the whole item, peel included), any other food by NDB.
        key = food.name
        try:
            facts = self.nutrition.facts(key)
        except UnknownFoodError:
            try:
                key = food.ndb
                facts = self.nutrition.facts(key) if key else None
            except UnknownFoodError:
                facts = None
        if facts is None:
            log.error("the detector named %r (ndb %s), which the nutrition table lacks; left out", food.name, food.ndb)
            return None
        if food.grams is None:
            log.error("the detector named %r without grams; left out", food.name)
            return None
        n = self.nutrition.nutrients(key, food.grams)
        return Item(
            name=food.name,
            display_name=food.display or facts.name,
            ndb=facts.ndb,
            recognised_by=food.recognised_by,
            kcal=n.kcal,
            protein_g=n.protein_g,
            fat_g=n.fat_g,
            carbs_g=n.carbs_g,
            **common,
        )

    def suggestion(self, values: dict) -> Suggestion | None:
        try:
            return Suggestion(
                name=values["name"],
                display_name=values.get("display") or values["name"],
                probability=min(1.0, max(0.0, float(values["probability"]))),
                source=values["source"],
                ndb=values.get("ndb"),
            )
        except (KeyError, ValueError, TypeError) as exc:
            log.warning("suggestion %r dropped: %s", values, exc)
            return None


def hint_for(items: list[Item], findings: PlateFindings) -> str | None:
    """One sentence for people about what limits this answer, or None."""
    if not items:
        return NO_FOOD_HINT
    if any(i.name == UNKNOWN for i in items):
        return UNKNOWN_HINT
    if findings.reference == "none":
        return NO_REFERENCE_HINT
    if findings.reference == "plate":
        return PLATE_HINT
    return None
