"""Real training: the shared training loop (the image-classification evaluator builds on it)."""
