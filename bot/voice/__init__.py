"""Voice notes: decode the audio, turn it into words (offline by default) and hand them to the conversation."""
