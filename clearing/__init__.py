"""crossbook clearing package."""
