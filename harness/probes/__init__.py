"""Probes measure while a case runs. Nothing here knows about a particular workload."""
