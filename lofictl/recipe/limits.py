"""How long a recipe may be: limits the schema checks and compose.form plans sections within
(compose.form reads them from here: it may not import the schema, which plans its sections
with compose.form)."""

MAX_BARS = 10000
MAX_SECONDS = 24 * 3600  # what any one track may last, whatever its bars and tempo
