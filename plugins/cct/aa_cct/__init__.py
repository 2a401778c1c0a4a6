"""AA plugin aa-cct."""
