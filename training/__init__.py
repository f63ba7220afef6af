"""Library code behind the DVC stages (pipelines/): data/ (inputs), detector/ and portion/ (training and
evaluation), inference/ (what runs a model and ships inside a registered one), and the registry."""
