"""Command-line tools around the service: chat, check, demo, report, audit, the test phone."""
