"""crossbook clients package."""
