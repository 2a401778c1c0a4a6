"""Deprecated 0.1 path: the built-in cells live in :mod:`aa_core.builtins`."""
