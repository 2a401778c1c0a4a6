"""AA plugin aa-mamba."""
