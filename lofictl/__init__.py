"""lofictl: reproducible lo-fi tracks from YAML recipes."""

__version__ = "0.1.0"
