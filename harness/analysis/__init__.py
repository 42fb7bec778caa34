"""Analysis: pure functions over records (task rows, sizing model, recommendation, scheduler
footprint comparison). Nothing here starts a cluster or writes a file."""
