"""Scripts that produced the embedded weights (not imported by the app)."""
