"""barpipe package."""
