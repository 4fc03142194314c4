"""Documents the hub renders for people (reminders); pure functions, no store."""
