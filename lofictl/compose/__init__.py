"""Composing: the score (notes, chords, sections, tempo map), music theory, the arrangement of
chords, bass, melody and drums from a recipe, form, harmony read from clips, humanize."""
