"""Tools around the service: chat, check, demo, report, audit, the test phone, transcript scoring for tests."""
