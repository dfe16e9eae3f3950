"""Small models and data for trying treadle out, as ``lightning.pytorch.demos``: the same
names, signatures and behaviour.

- ``treadle.demos.boring_classes``: ``BoringModel``, ``BoringDataModule``, ``DemoModel``;
- ``treadle.demos.transformer``: ``Transformer``, ``LightningTransformer``, ``WikiText2``;
- ``treadle.demos.lstm``: ``SimpleLSTM``, ``LightningLSTM``, ``SequenceSampler``;
- ``treadle.demos.mnist_datamodule``: ``MNIST``, ``MNISTDataModule`` (not re-exported here,
  as in Lightning).
"""

from treadle.demos.boring_classes import BoringDataModule, BoringModel, DemoModel
from treadle.demos.lstm import LightningLSTM, SequenceSampler, SimpleLSTM
from treadle.demos.transformer import LightningTransformer, Transformer, WikiText2

__all__ = [
    "LightningLSTM",
    "SequenceSampler",
    "SimpleLSTM",
    "LightningTransformer",
    "Transformer",
    "WikiText2",
    "BoringModel",
    "BoringDataModule",
    "DemoModel",
]
