"""aa-digits: an example task plugin (a dataset and a pipeline trained by the core's `train` task)."""
