"""Punch ingest: MQTT in (``worker``), sorted by meaning (``classify``), committed in batches (``commit``)."""
