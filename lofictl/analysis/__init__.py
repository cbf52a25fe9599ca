"""Measures a producer reads: what a built track (or a reference file) does, note by note and stem by stem."""
