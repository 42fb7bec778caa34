"""The memreplay engine, in rooms that follow the data:
plan → execute → probes → records → analysis → report, with studies beside the pipeline.
``compat`` holds every distributed internal memreplay touches; ``cli`` parses and prints."""
