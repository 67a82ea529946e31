"""The shared base every layer may import: errors, the image type, imaging primitives. Imports nothing of Ganvas."""
