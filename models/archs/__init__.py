"""Architectures we own. Importing this package registers their loader families."""

from models.archs import (
    biggan_deep,  # noqa: F401
    emoji_gan,  # noqa: F401
    ganvas_inpaint,  # noqa: F401
)
