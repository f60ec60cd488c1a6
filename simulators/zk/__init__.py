"""A ZK-protocol (port 4370) attendance terminal simulator that unmodified pyzk talks to."""
