"""The callbacks a Lightning user expects, as treadle plugins; import them from ``treadle.callbacks``.

Each module holds one callback and imports only ``torch`` and ``treadle``, so importing one is
cheap. ``model_summary`` is also an entry point: its ``configure_callbacks`` adds the default
``ModelSummary`` (``Trainer(enable_model_summary=True)``, the default).
"""
