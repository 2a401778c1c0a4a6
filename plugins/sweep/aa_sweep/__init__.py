"""aa-sweep: ``aa sweep SPEC`` — grids or searches over ``--set`` keys × seeds on Optuna storage."""
