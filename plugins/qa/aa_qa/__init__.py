"""AA's question→answer application, as a plugin: the teacher tokenizer, data loading, training,
evaluation beside the baselines, reports, and `aa ask` / `aa evaluate`.

Modules, top to bottom (no import circle; the import-linter contract "aa_qa layers" keeps it so):
:mod:`.evaluate` and :mod:`.ask` (the tasks); :mod:`.folds` and :mod:`.generative`; :mod:`.scoring`
(baselines, metrics, report writing); :mod:`.train` (``train_model``); :mod:`.dataset` (``qa_pairs``: the
data) and :mod:`.objective` (``qa``: the loss and metrics); :mod:`.abstain` and :mod:`.resume`;
:mod:`.answering` (predictions → answers) and :mod:`.prep` (data, embeddings, decoder); helpers such as
:mod:`.data`, :mod:`.metrics`, :mod:`.report`, :mod:`.teacher`; :mod:`.ranking` at the bottom.
"""
