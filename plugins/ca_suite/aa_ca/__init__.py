"""AA plugin: cellular-automata tasks with published figures (see README.md)."""
