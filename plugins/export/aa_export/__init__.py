"""aa-export: ``aa export`` — a trained lattice model's step as ONNX, the Distill demo's weight format, or one
self-contained HTML page that runs it in the browser — and ``aa serve``'s ``/live`` page.

- :mod:`aa_export.step` — the step with the fire mask as an input (:class:`~aa_export.step.LatticeStep`), the
  checkpoint it comes from (:func:`~aa_export.step.load`), AA's own roll-out to compare with;
- :mod:`aa_export.onnx_step` — the ONNX graph and its check with onnxruntime;
- :mod:`aa_export.distill` — the Distill Growing-NCA demo's quantised weights;
- :mod:`aa_export.page`, :mod:`aa_export.live` — the live page (files, ``/live`` routes).
"""
