"""A mock e-Kinerja receiver for testing the hub's feed, including its outages."""
