"""The memreplay engine: cluster configurations, clusters, probes, runner, records and CLI."""
