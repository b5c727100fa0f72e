"""End-to-end tests against the real Flutter web client (see harness.py)."""
