"""What the models name: the 19 ECUSTFD food types and the reference coin (25 mm) that sets the scale.

The class list of the dataset the models are trained on; the dataset parser (training/data/ecustfd.py)
checks the annotations against it, and the served code needs nothing else of the dataset.
"""

from __future__ import annotations

FOOD_TYPES: tuple[str, ...] = (
    "apple",
    "banana",
    "bread",
    "bun",
    "doughnut",
    "egg",
    "fired_dough_twist",
    "grape",
    "lemon",
    "litchi",
    "mango",
    "mooncake",
    "orange",
    "peach",
    "pear",
    "plum",
    "qiwi",
    "sachima",
    "tomato",
)
COIN = "coin"
CLASSES: tuple[str, ...] = (*FOOD_TYPES, COIN)
COIN_DIAMETER_MM = 25.0
