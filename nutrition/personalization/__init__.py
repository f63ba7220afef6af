"""Progressive personalization: what is learned about a person from their signals, and how plans use it."""
