"""The rules a build obeys so that nothing is lost, nothing stale is served and nothing is let in.

- `names`: build names as safe slugs (unicode kept; no separators, no `.`/`..`, no hidden names).
- `paths`: the one rule for every file a recipe or a model names (it stays inside its folder).
- `outputs`: which folder a build may replace, and the commit order of outputs and lock.
- `fingerprints`: per-stage code versions (in the lock) and source digests (in the local cache key).
- `plugins`: where external plugins may be loaded from.
- `interrupts`: Ctrl-C and SIGTERM stop a build at the next checkpoint; worker pools stay quiet.
"""
