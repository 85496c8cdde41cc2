"""crossbook gateway package."""
