"""A Lenia-like growth cell: depthwise neighbourhood potential, bell-shaped growth, state clamped to [0, 1]."""
