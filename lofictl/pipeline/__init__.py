"""The build: plan, stage runner, cache, lock, batch builds, verify and diff, progress."""
