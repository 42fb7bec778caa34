"""Record & replay: a pipeline of the user's own recorded as a trace on their cluster (the
replay is the workload ``replay:TRACE``, in ``memreplay.workloads.replay``)."""
