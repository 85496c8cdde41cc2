"""crossbook bench package."""
