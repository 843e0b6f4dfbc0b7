"""Understanding backends with I/O (the optional LLM) and the deadline that falls back to the rules."""
