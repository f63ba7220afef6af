"""The model server (BentoML), a thin web layer over training.inference.plate: upload limits, decoding, nutrition,
the HTTP contract. Built on the registered champions."""
