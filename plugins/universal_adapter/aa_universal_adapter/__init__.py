"""AA plugin aa-universal-adapter."""
