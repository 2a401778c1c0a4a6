"""AA plugin aa-gmlp."""
