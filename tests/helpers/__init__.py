"""What the tests share besides fixtures (those are in ``tests/conftest.py``):

- ``cli``: the installed ``memreplay`` in a process of its own, one-line error checks, matrices;
- ``browser``: headless Chromium on pages served on loopback, every other request blocked;
- ``dask_processes``: real ``dask scheduler`` and ``dask worker`` processes (TLS too);
- ``project_copy``: a throwaway git repository holding a copy of this project (asv, proofs/);
- workloads and task functions that workers and subprocesses import by name:
  ``sweep_workloads`` (``tests.helpers.sweep_workloads:NAME``), ``fil_workloads``,
  ``probe_tasks``, ``exits_at_import`` (a module that exits when imported), and
  ``user_pipeline`` (a script of "the user's own", for record & replay).
"""
