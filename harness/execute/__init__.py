"""Execution: a fresh cluster per case, the runner that attaches the probes, outcomes
(ok, oom, timeout, error), sweeps and their progress line."""
