"""Storage: engine, sessions, models and migrations."""
