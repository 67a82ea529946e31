"""Architectures we own. Importing this package registers their loader families."""
