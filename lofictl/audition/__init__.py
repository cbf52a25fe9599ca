"""Hearing variants side by side and blind: `lofictl audition` and `lofictl listen-test`.

variants.py     N variants of one recipe (by seed and `--vary FIELD=a,b,c`), built into a folder
                lofictl owns (build/audition/NAME), its manifest, and `keep` (a variant's recipe)
server.py       the local page server (127.0.0.1) both pages run on: assets, audio, JSON API
pages.py        what each page serves and answers (audition grid and keep; the blind test)
listentest.py   the test file's schema and its excerpts (one loudness, hashed names, seeded order)
db.py           the listening test's answers in SQLite (schema.sql)
stats.py        Bradley-Terry (MM) and MUSHRA means, bootstrap intervals over listeners
command.py      the typer commands
"""
