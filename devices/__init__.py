"""Terminal drivers: what the edge knows about talking to attendance devices, and nothing else."""
