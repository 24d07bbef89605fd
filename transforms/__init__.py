"""Winnow's stages: independent Beam transforms with one contract (see :mod:`transforms.stage`)."""
