"""AA's question→answer application, as a plugin: the teacher tokenizer, data loading, training,
evaluation beside the baselines, reports, and `aa ask` / `aa evaluate`.

Modules: :mod:`.data` (loading, dedup, split, hash), :mod:`.train` (the ``train`` task),
:mod:`.baselines`, :mod:`.metrics`, :mod:`.report`, :mod:`.evaluate` (the ``evaluate``
task), :mod:`.ask` (the ``ask`` task), :mod:`.teacher` (the ``teacher`` tokenizer).
"""
