"""Studies beside the pipeline: Fil and memory_profiler profiles of one task function, the
scheduler's own footprint, and the per-task probe's accuracy against a ground truth."""
