"""Lightning's ``lightning.pytorch.demos.transformer`` as treadle classes: a small word-level
language model (after PyTorch's ``word_language_model`` example) and the WikiText-2 text.

- ``Transformer``: embedding, positional encoding, ``nn.Transformer`` (``batch_first``), a
  linear decoder and ``log_softmax``; ``forward(inputs, target, mask=None)`` returns
  ``(batch * seq, vocab_size)`` log-probabilities. The attribute names are Lightning's, so
  state dicts load across the two.
- ``WikiText2``: ``(inputs, target)`` blocks of ``block_size`` token ids, ``target`` shifted by
  one, read from ``data_dir / "wikitext-2.txt"`` (words split on whitespace, ``<eos>`` closing
  each line). With ``download=True`` (the default) a missing file is fetched from PyTorch's
  examples repository; without a network it is a ``RuntimeError`` naming the path to put the
  file at. Any text file works: a program can write its own there (or pass ``data_dir``).
- ``LightningTransformer``: the ``Transformer`` trained on ``WikiText2`` with SGD.
"""

from __future__ import annotations

import math
import os
import urllib.error
import urllib.request
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from treadle.module import Module

__all__ = ["LightningTransformer", "PositionalEncoding", "Transformer", "WikiText2"]


class Transformer(nn.Module):
    """An encoder-decoder transformer over token ids (``vocab_size`` defaults to WikiText-2's)."""

    def __init__(
        self,
        vocab_size: int = 33278,
        ninp: int = 200,
        nhead: int = 2,
        nhid: int = 200,
        nlayers: int = 2,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.pos_encoder = PositionalEncoding(ninp, dropout)
        self.embedding = nn.Embedding(vocab_size, ninp)
        self.transformer = nn.Transformer(
            d_model=ninp,
            nhead=nhead,
            num_encoder_layers=nlayers,
            num_decoder_layers=nlayers,
            dim_feedforward=nhid,
            dropout=dropout,
            batch_first=True,
        )
        self.decoder = nn.Linear(ninp, vocab_size)
        self.ninp = ninp
        self.vocab_size = vocab_size
        self.src_mask: Tensor | None = None

    def generate_square_subsequent_mask(self, size: int) -> Tensor:
        """``-inf`` above the diagonal, 0 elsewhere: no position sees a later one."""
        return torch.full((size, size), float("-inf")).triu(diagonal=1)

    def forward(self, inputs: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        length = inputs.shape[1]
        if self.src_mask is None or self.src_mask.size(0) != length:
            self.src_mask = self.generate_square_subsequent_mask(length).to(inputs.device)
        if mask is None:
            mask = self.generate_square_subsequent_mask(length).to(inputs.device)
        scale = math.sqrt(self.ninp)
        src = self.pos_encoder(self.embedding(inputs) * scale)
        tgt = self.pos_encoder(self.embedding(target) * scale)
        output = self.decoder(self.transformer(src, tgt, tgt_mask=mask))
        return F.log_softmax(output, dim=-1).view(-1, self.vocab_size)


class PositionalEncoding(nn.Module):
    """Sine/cosine position encodings, built on the first call on the input's device.

    As Lightning's demo does, the encoding added is the one of position ``seq_len`` (the same
    vector at every position), so the two models compute the same values.
    """

    def __init__(self, dim: int, dropout: float = 0.1, max_len: int = 5000) -> None:
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        self.dim = dim
        self.max_len = max_len
        self.pe: Tensor | None = None  # not a buffer: sliced per call (and DDP-safe)

    def forward(self, x: Tensor) -> Tensor:
        if self.pe is None:
            self.pe = self._encodings(x.device)
        return self.dropout(x + self.pe[:, x.size(1)])

    def _encodings(self, device: torch.device) -> Tensor:
        position = torch.arange(self.max_len, dtype=torch.float, device=device).unsqueeze(1)
        frequency = torch.exp(
            torch.arange(0, self.dim, 2, device=device).float() * (-math.log(10000.0) / self.dim)
        )
        pe = torch.zeros(self.max_len, self.dim, device=device)
        pe[:, 0::2] = torch.sin(position * frequency)
        pe[:, 1::2] = torch.cos(position * frequency)
        return pe.unsqueeze(0)


class WikiText2(Dataset):
    """WikiText-2's training text as ``(inputs, target)`` blocks of ``block_size`` token ids.

    ``data_dir / "wikitext-2.txt"`` is read (fetched first when missing and ``download``).
    """

    URL = (
        "https://raw.githubusercontent.com/pytorch/examples/main/"
        "word_language_model/data/wikitext-2/train.txt"
    )

    def __init__(
        self, data_dir: Path = Path("./data"), block_size: int = 35, download: bool = True
    ) -> None:
        super().__init__()
        self.path = Path(data_dir) / "wikitext-2.txt"
        if download:
            self.download(self.path)
        if not self.path.is_file():
            raise FileNotFoundError(
                f"WikiText2: no text at {str(self.path)!r} (download=False). Put a text file "
                f"there (its whitespace-separated words are the tokens), pass `data_dir=` a "
                f"folder holding `wikitext-2.txt`, or pass `download=True`."
            )
        self.data, self.dictionary = tokenize(self.path)
        self.block_size = block_size

    @property
    def vocab_size(self) -> int:
        return len(self.dictionary)

    def __len__(self) -> int:
        return len(self.data) // self.block_size - 1

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        start = index * self.block_size
        end = start + self.block_size
        return self.data[start:end], self.data[start + 1 : end + 1]

    @classmethod
    def download(cls, destination: Path) -> None:
        """Fetch the text to ``destination`` unless a file is there already."""
        destination = Path(destination)
        if destination.exists():
            return
        os.makedirs(destination.parent, exist_ok=True)
        try:
            with urllib.request.urlopen(cls.URL, timeout=60) as response:  # noqa: S310
                text = response.read().decode("utf-8")
        except (urllib.error.URLError, OSError) as exc:
            raise RuntimeError(
                f"WikiText2: could not download {cls.URL} to {str(destination)!r} ({exc}). "
                f"Without a network, put a text file at that path (its whitespace-separated "
                f"words are the tokens) or pass `data_dir=` a folder holding `wikitext-2.txt`."
            ) from exc
        destination.write_text(text, encoding="utf-8")


class Dictionary:
    """Words to ids, in order of first appearance."""

    def __init__(self) -> None:
        self.word2idx: dict[str, int] = {}
        self.idx2word: list[str] = []

    def add_word(self, word: str) -> int:
        if word not in self.word2idx:
            self.word2idx[word] = len(self.idx2word)
            self.idx2word.append(word)
        return self.word2idx[word]

    def __len__(self) -> int:
        return len(self.idx2word)


def tokenize(path: Path) -> tuple[Tensor, Dictionary]:
    """The ids of ``path``'s words (each line closed by ``<eos>``), and their dictionary."""
    dictionary = Dictionary()
    ids: list[int] = []
    with open(path, encoding="utf8") as f:
        for line in f:
            ids.extend(dictionary.add_word(word) for word in [*line.split(), "<eos>"])
    return torch.tensor(ids, dtype=torch.int64), dictionary


class LightningTransformer(Module):
    """The ``Transformer`` as a Module: NLL loss on ``WikiText2``, SGD at 0.1."""

    def __init__(self, vocab_size: int = 33278) -> None:
        super().__init__()
        self.model = Transformer(vocab_size=vocab_size)

    def forward(self, inputs: Tensor, target: Tensor) -> Tensor:
        return self.model(inputs, target)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        inputs, target = batch
        return F.nll_loss(self(inputs, target), target.view(-1))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.model.parameters(), lr=0.1)

    def prepare_data(self) -> None:
        WikiText2(download=True)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(WikiText2())
