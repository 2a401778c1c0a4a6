"""The core's built-in components (lattice geometry, mlp and depthwise cells, nca propagator,
linear adapter, direct_embedding pipeline), a default plugin of the core's own hooks."""
