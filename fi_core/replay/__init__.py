"""Runs: a golden run, and the replay of injection CSVs against it (resume, corrupt, train on,
record; the exact early exit when a run rejoins the golden one), with mitigation hooks."""
