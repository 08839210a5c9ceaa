"""Access: API tokens."""
