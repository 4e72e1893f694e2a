"""Model files: the tiny random-weight Granite builder (real weights are downloaded by hand)."""
