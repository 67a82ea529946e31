"""Model registry, weights sources, runtime and architectures."""
