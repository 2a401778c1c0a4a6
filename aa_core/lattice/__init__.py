"""Lattice geometry and local propagation."""
