"""Small classes for trying treadle out, as ``lightning.pytorch.demos``: ``BoringModel``,
``BoringDataModule``, ``DemoModel`` (in ``treadle.demos.boring_classes``)."""

from treadle.demos.boring_classes import BoringDataModule, BoringModel, DemoModel

__all__ = ["BoringDataModule", "BoringModel", "DemoModel"]
