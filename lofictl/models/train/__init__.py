"""Training: corpus readers, the optax loop and the `lofictl train` commands."""
