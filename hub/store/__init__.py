"""The hub's SQL store: models (``models``), engine and sessions (``db``), migrations (``migrate``)."""
