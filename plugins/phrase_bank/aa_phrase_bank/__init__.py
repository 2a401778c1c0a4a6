"""AA plugin aa-phrase-bank."""
