"""The bot database revisions, oldest first (0001_baseline is the schema from before migrations)."""
