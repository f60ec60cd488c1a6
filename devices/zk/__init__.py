"""The ZK binary protocol (port 4370) driver, on unmodified pyzk 0.9."""
