"""The verifiable audit log: sequencing, hash tiles, signed checkpoints, read API."""
