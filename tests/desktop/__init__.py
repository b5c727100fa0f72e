"""The real Flutter desktop client (Linux, under Xvfb): see test_desktop_client.py."""
