"""Records: the typed schema of ``run.json`` per kind, the one reader of ``tasks.csv``, atomic
writes, the results store and the environment a result was measured in."""
