"""Defaults the app and the CLI share (no torch here, so the CLI's parser stays quick to build)."""

# Inpaint: grow a hand-painted mask a little past the object's edge and blend the fill over a
# couple of pixels (``ops.inpaint.inpaint`` itself defaults to neither).
DEFAULT_DILATE = 4
DEFAULT_FEATHER = 2

# Generate: images per click in the app and per call of ``cli.py generate`` (seeds seed .. seed + n - 1,
# so the same seed gives the same images in both).
DEFAULT_COUNT = 8

# Composite: the blend modes, in the order the app lists them.
BLEND_MODES: tuple[str, ...] = (
    "normal",
    "multiply",
    "screen",
    "overlay",
    "soft_light",
    "darken",
    "lighten",
    "difference",
    "add",
)
