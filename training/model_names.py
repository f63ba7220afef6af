"""The registered models' names and the alias serving imports: read by params defaults, the registry and serving.

A module of its own, so that every stage can read these names without depending on the registry code.
"""

CHAMPION = "champion"  # the alias serving imports
DETECTOR_MODEL = "food-detector"  # the registered models, by the names serving imports them under
PORTION_MODEL = "portion-estimator"
