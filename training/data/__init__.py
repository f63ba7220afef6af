"""The pipeline's inputs: ECUSTFD (fetch, VOC annotations, manifest, item-grouped splits, YOLO dataset), USDA SR28,
the backbone's ImageNet weights, and the MobileNetV2 features of every annotated food box."""
