"""Feature logic between the thin LSP handlers and the engine."""
