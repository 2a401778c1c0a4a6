"""AA plugin aa-ret."""
