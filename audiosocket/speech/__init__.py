"""Speech engines behind small interfaces: speech-to-text and text-to-speech."""
