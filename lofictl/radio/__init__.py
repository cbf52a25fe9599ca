"""lofictl radio: an endless, reproducible station served to browsers and to Icecast.

Track N of a station is a recipe plus settings derived from the station's seed and N, so any
moment of the stream can be rebuilt (`keep`). The package follows the data:

    station.py   the station file (schema, errors with file:line, recipes it draws from)
    schedule.py  track N: which recipe, seed, key (Camelot walk), tempo, pattern, presets
    producer.py  builds the next tracks ahead in a worker process, into a bounded work folder
    mixer.py     the air: tracks joined by bar-aligned crossfades (lofictl.sound.sequence), fallbacks
    encoder.py   PCM → MP3 (ffmpeg), MP3 frames in a ring shared by every listener, the Icecast source client
    server.py    the built-in HTTP server: the page, the stream, the JSON API (bounded against hostile clients)
    wire.py      text that leaves the station: titles in headers and metadata, log lines without secrets
    db.py        ratings and plays in SQLite (schema.sql is plain SQL a server database takes);
                 the station's writer thread (its writes off the real-time pacer)
    stats.py     what listeners keep or skip: a table and a plot
    keep.py      track N as a recipe file of its own
    run.py       the whole station, started and stopped cleanly
    command.py   the `lofictl radio` commands
"""
