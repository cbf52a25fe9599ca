"""Flax models, the jit+scan sampler and checkpoint files."""
