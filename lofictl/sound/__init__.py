"""The sound stage: how stems sound, measured (spectra, loudness, transients)."""
