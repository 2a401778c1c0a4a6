"""aa-serve tests (a package, so that this conftest is not the top-level module `conftest`)."""
