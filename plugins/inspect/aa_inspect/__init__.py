"""aa-inspect: ``aa inspect --checkpoint DIR`` — what happens inside a lattice, as a picture, for any task."""
