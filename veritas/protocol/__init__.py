"""The event and its two wire forms, shared by both processes: standard library only."""
