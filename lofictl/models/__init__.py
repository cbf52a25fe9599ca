"""The model stage's code: measuring what the models make (more moves here in the planned refactor).

Not to be confused with the project's top-level `models/` folder, which holds checkpoints
(data); this is a Python package (code) and reads no checkpoint by itself.
"""
