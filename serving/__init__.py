"""Model serving (BentoML): photo in, foods with grams and nutrients out. Built on the registered champions."""
