"""Question→answer end to end: data, training, baselines, metrics, reports and asking.

Modules: :mod:`.data` (loading, dedup, split, hash), :mod:`.train` (the ``train`` task),
:mod:`.baselines`, :mod:`.metrics`, :mod:`.report`, :mod:`.evaluate` (the ``evaluate``
task) and :mod:`.ask` (the ``ask`` task).
"""
