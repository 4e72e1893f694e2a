"""Model files: the tiny random-weight Granite builder (real weights are downloaded by hand).

The GGUF files here are git-ignored. `tiny_granite` imports only `gguf` and numpy, nothing of this project.
"""
