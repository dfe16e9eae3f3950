"""``treadle.demos.boring_classes``: Lightning's demo classes (``lightning.pytorch.demos``).

Behaviour as Lightning's ``BoringModel``/``BoringDataModule`` (Copyright The Lightning AI team,
Apache-2.0): the sizes, what each step returns, and the stage split of the data module, which
Lightning's own tests and the CLI guide rely on.
"""

from __future__ import annotations

import re

import pytest
import torch

import treadle
from treadle.demos import BoringDataModule, BoringModel, DemoModel
from treadle.demos.boring_classes import ManualOptimBoringModel, RandomDataset, RandomDictDataset


def _trainer(tmp_path, **kw):
    kw.setdefault("enable_progress_bar", False)
    kw.setdefault("enable_model_summary", False)
    kw.setdefault("logger", False)
    kw.setdefault("enable_checkpointing", False)
    return treadle.Trainer(default_root_dir=str(tmp_path), **kw)


def test_boring_model_fits_with_its_own_loaders_one_sample_a_batch(tmp_path):
    model = BoringModel()
    before = model.layer.weight.detach().clone()
    trainer = _trainer(tmp_path, max_epochs=1, limit_val_batches=2)
    trainer.fit(model)
    assert trainer.global_step == 64  # 64 samples, batch size 1
    assert not torch.equal(before, model.layer.weight)
    assert model.validation_step(torch.ones(1, 32), 0).keys() == {"x"}
    assert model.test_step(torch.ones(1, 32), 0).keys() == {"y"}
    assert len(model.predict_dataloader()) == 64


def test_boring_data_module_gives_each_stage_its_own_64_samples(tmp_path):
    dm = BoringDataModule()
    dm.setup("fit")
    assert len(dm.train_dataloader()) == len(dm.val_dataloader()) == 64
    assert not hasattr(dm, "random_test")
    dm.setup("test")
    first_test = next(iter(dm.test_dataloader()))
    assert torch.equal(first_test[0], dm.random_full[128])
    trainer = _trainer(tmp_path, max_steps=3, limit_val_batches=1, limit_test_batches=2)
    trainer.fit(BoringModel(), datamodule=BoringDataModule())
    assert trainer.global_step == 3


def test_manual_optim_and_demo_model_train(tmp_path):
    trainer = _trainer(tmp_path, max_steps=2, limit_val_batches=0)
    trainer.fit(ManualOptimBoringModel())
    assert trainer.global_step == 2
    model = DemoModel(out_dim=3, learning_rate=0.1)
    assert model.l1.out_features == 3 and model.learning_rate == 0.1
    _trainer(tmp_path, max_steps=2).fit(model, datamodule=BoringDataModule())


def test_random_datasets():
    assert RandomDataset(4, 5)[0].shape == (4,) and len(RandomDataset(4, 5)) == 5
    item = RandomDictDataset(4, 5)[1]
    assert torch.equal(item["b"], item["a"] + 2)


class _TwoLoaderModel(treadle.Module):
    """4 features in, as ``IterableBoringDataModule``'s data; counts evaluation batches."""

    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 2)
        self.seen = {}

    def training_step(self, batch, batch_idx):
        assert isinstance(batch, list) and len(batch) == 2  # one batch of each loader
        return self.layer(batch[0]).sum() + self.layer(batch[1]).sum()

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        self.seen[("val", dataloader_idx)] = self.seen.get(("val", dataloader_idx), 0) + 1

    def test_step(self, batch, batch_idx, dataloader_idx=0):
        self.seen[("test", dataloader_idx)] = self.seen.get(("test", dataloader_idx), 0) + 1

    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        return self.layer(batch)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_iterable_and_lengthless_data_modules_as_lightnings(tmp_path):
    # Lightning 2.6.6 on this program: global step 16 (two loaders of 16, max_size_cycle);
    # 32 validation batches per loader plus the sanity check's 2; 64 test batches per loader;
    # 128 predictions per loader; BoringDataModuleNoLen: 512 steps, 64 predictions.
    from treadle.demos.boring_classes import BoringDataModuleNoLen, IterableBoringDataModule

    model, dm = _TwoLoaderModel(), IterableBoringDataModule()
    trainer = _trainer(tmp_path, max_epochs=1)
    trainer.fit(model, datamodule=dm)
    assert trainer.global_step == 16
    assert model.seen == {("val", 0): 34, ("val", 1): 34}
    trainer.test(model, datamodule=dm, verbose=False)
    assert model.seen[("test", 0)] == model.seen[("test", 1)] == 64
    assert [len(p) for p in trainer.predict(model, datamodule=dm)] == [128, 128]

    dm = BoringDataModuleNoLen()
    trainer = _trainer(tmp_path, max_epochs=1, limit_val_batches=3)
    trainer.fit(BoringModel(), datamodule=dm)
    assert trainer.global_step == 512
    assert len(trainer.predict(BoringModel(), datamodule=dm)) == 64


# -- transformer, lstm, mnist_datamodule (Lightning 2.6.6's values where noted) ------------------


def test_demos_exports_lightnings_names():
    import treadle.demos

    # lightning.pytorch.demos.__all__ in Lightning 2.6.6
    assert treadle.demos.__all__ == [
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
    assert all(hasattr(treadle.demos, name) for name in treadle.demos.__all__)


def _text(folder, lines=40, words=12, vocab=30):
    """A small WikiText2 file: ``lines`` lines of random words ``w0 .. w{vocab-1}``."""
    g = torch.Generator().manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        " ".join(f"w{int(i)}" for i in torch.randint(0, vocab, (words,), generator=g))
        for _ in range(lines)
    ]
    (folder / "wikitext-2.txt").write_text("\n".join(rows) + "\n")
    return rows


def test_wikitext2_reads_the_text_in_data_dir_as_shifted_blocks(tmp_path):
    from treadle.demos import WikiText2

    rows = _text(tmp_path / "data")
    data = WikiText2(data_dir=tmp_path / "data", block_size=5)  # present: nothing downloaded
    words = [w for row in rows for w in [*row.split(), "<eos>"]]
    assert data.vocab_size == len(set(words))
    assert len(data) == len(words) // 5 - 1
    inputs, target = data[2]
    assert inputs.tolist() == [data.dictionary.word2idx[w] for w in words[10:15]]
    assert torch.equal(target[:-1], inputs[1:])
    assert data.dictionary.idx2word[int(target[-1])] == words[15]


def test_wikitext2_without_its_file_names_the_path(tmp_path, monkeypatch):
    from treadle.demos import WikiText2

    path = str(tmp_path / "none" / "wikitext-2.txt")
    with pytest.raises(
        FileNotFoundError,
        match=re.escape(
            f"WikiText2: no text at {path!r} (download=False). Put a text file there (its "
            f"whitespace-separated words are the tokens), pass `data_dir=` a folder holding "
            f"`wikitext-2.txt`, or pass `download=True`."
        ),
    ):
        WikiText2(data_dir=tmp_path / "none", download=False)
    # no network: a refused connection (a closed local port) stands where the server would be
    monkeypatch.setattr(WikiText2, "URL", "http://127.0.0.1:9/train.txt")
    with pytest.raises(RuntimeError) as info:
        WikiText2(data_dir=tmp_path / "none")
    assert str(info.value).startswith(
        f"WikiText2: could not download http://127.0.0.1:9/train.txt to {path!r} ("
    )
    assert str(info.value).endswith(
        "). Without a network, put a text file at that path (its whitespace-separated words are "
        "the tokens) or pass `data_dir=` a folder holding `wikitext-2.txt`."
    )


def test_transformer_and_lstm_match_lightnings_outputs():
    from treadle.demos import SequenceSampler, SimpleLSTM, Transformer

    # the same seed, sizes and inputs give Lightning 2.6.6's sums (its demo classes, run there)
    torch.manual_seed(0)
    transformer = Transformer(vocab_size=50, ninp=16, nhid=16).eval()
    lstm = SimpleLSTM(vocab_size=50, ninp=8, nhid=8, nlayers=2).eval()
    x, y = torch.randint(0, 50, (3, 7)), torch.randint(0, 50, (3, 7))
    out = transformer(x, y)
    assert out.shape == (21, 50)
    assert out.sum().item() == pytest.approx(-4276.11865234375, rel=1e-5)
    log_probs, (h, _) = lstm(x, lstm.init_hidden(3))
    assert log_probs.sum().item() == pytest.approx(-4107.88623046875, rel=1e-5)
    assert h.sum().item() == pytest.approx(-0.6627289056777954, rel=1e-4)
    assert len(transformer.state_dict()) == 67
    assert list(SequenceSampler(range(10), 3)) == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]


def test_lightning_transformer_and_lstm_train_on_their_own_loaders(tmp_path, monkeypatch):
    from treadle.demos import LightningLSTM, LightningTransformer

    monkeypatch.chdir(tmp_path)  # their loaders read ./data/wikitext-2.txt
    _text(tmp_path / "data", lines=60)
    model = LightningTransformer(vocab_size=31)
    before = model.model.decoder.weight.detach().clone()
    _trainer(tmp_path, max_steps=2).fit(model)
    assert not torch.equal(before, model.model.decoder.weight)
    lstm = LightningLSTM(vocab_size=31)
    trainer = _trainer(tmp_path, max_epochs=1)
    trainer.fit(lstm)  # 20 streams: 780 tokens = 21 blocks of 35, one batch of 20 rows
    assert trainer.global_step == 1 and lstm.hidden is None  # reset at the epoch's end
    assert "train_loss" in trainer.callback_metrics


def _mnist_files(root, n_train=40, n_test=12):
    folder = root / "MNIST" / "complete"
    folder.mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    for name, n in (("training.pt", n_train), ("test.pt", n_test)):
        images = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=g)
        torch.save((images, torch.randint(0, 10, (n,), generator=g)), folder / name)
    return folder


def test_mnist_datamodule_reads_the_files_in_data_dir(tmp_path, monkeypatch):
    from treadle.demos.mnist_datamodule import _MNIST, MNIST, MNISTDataModule

    monkeypatch.setenv("PL_USE_MOCKED_MNIST", "1")  # Lightning's switch: the two-file copy
    _mnist_files(tmp_path)
    data = MNIST(str(tmp_path), train=False, download=False)
    assert isinstance(data, _MNIST) and len(data) == 12
    image, target = data[0]
    assert image.shape == (1, 28, 28) and isinstance(target, int)
    dm = MNISTDataModule(data_dir=str(tmp_path), val_split=8, num_workers=0, batch_size=4)
    assert dm.num_classes == 10 and dm.name == "mnist"
    dm.prepare_data()  # present: nothing downloaded
    dm.setup("fit")
    assert (len(dm.dataset_train), len(dm.dataset_val)) == (32, 8)
    assert len(dm.train_dataloader()) == 8 and len(dm.test_dataloader()) == 3


def test_mnist_without_its_files_names_the_folder(tmp_path, monkeypatch):
    from treadle.demos.mnist_datamodule import _MNIST

    folder = str(tmp_path / "MNIST" / "complete")
    with pytest.raises(
        RuntimeError,
        match=re.escape(
            f"MNIST: dataset not found in {folder!r} (download=False). Put 'training.pt' and "
            f"'test.pt' there (each a `torch.save`-d (uint8 images N x 28 x 28, int64 targets) "
            f"pair) or pass `download=True`."
        ),
    ):
        _MNIST(str(tmp_path), download=False)
    monkeypatch.setattr(_MNIST, "RESOURCES", ("http://127.0.0.1:9/training.pt",))
    with pytest.raises(RuntimeError) as info:
        _MNIST(str(tmp_path))
    assert str(info.value).startswith(
        f"MNIST: could not download http://127.0.0.1:9/training.pt to "
        f"{str(tmp_path / 'MNIST' / 'complete' / 'training.pt')!r} ("
    )
    assert str(info.value).endswith(
        f"). Without a network, put 'training.pt' and 'test.pt' in {folder!r} (each a "
        f"`torch.save`-d (uint8 images N x 28 x 28, int64 targets) pair)."
    )
