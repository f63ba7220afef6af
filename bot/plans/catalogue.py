"""The recipe catalogue the bot plans with: the recipes of `recipes_dir` priced with `prices.csv` and the nutrition
table, loaded on first use (once); None, with the reason logged, when something is missing."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from bot.coach.advisor import TableSource
from nutrition.planning.recipes import (
    PRICES_FILE,
    CatalogueError,
    Price,
    PricedRecipe,
    load_prices,
    load_recipes,
    price_recipes,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Catalogue:
    recipes: list[PricedRecipe]
    prices: dict[str, Price]


class RecipeCatalogue:
    def __init__(self, directory: Path, tables: TableSource):
        self.directory = Path(directory)
        self.tables = tables
        self._lock = threading.Lock()
        self._loaded: Catalogue | None = None
        self.missing: str | None = None

    def get(self) -> Catalogue | None:
        table = self.tables.get()
        with self._lock:
            if self._loaded is None and self.missing is None:
                if table is None:
                    return None  # the table may come later (TableSource says why it did not)
                try:
                    prices = load_prices(self.directory / PRICES_FILE)
                    self._loaded = Catalogue(price_recipes(load_recipes(self.directory), table, prices), prices)
                    log.info("recipe catalogue: %d recipes from %s", len(self._loaded.recipes), self.directory)
                except (CatalogueError, OSError, ValueError) as exc:
                    self.missing = str(exc)
                    log.error("recipe catalogue unavailable: %s", exc)
            return self._loaded
