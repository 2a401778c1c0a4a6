"""aa-serve: `aa serve`, a REST service for trained checkpoints."""
