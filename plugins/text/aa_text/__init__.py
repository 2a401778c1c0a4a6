"""AA plugin aa-text: pipelines that generate text."""
