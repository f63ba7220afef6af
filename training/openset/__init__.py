"""Open-set naming: the ImageNet food map, leave-foods-out evaluation and the served namer's thresholds."""
