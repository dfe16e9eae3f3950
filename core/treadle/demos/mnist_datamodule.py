"""Lightning's ``lightning.pytorch.demos.mnist_datamodule`` as treadle classes: MNIST and a
DataModule splitting it.

- ``MNIST(root, train=True, normalize=(0.1307, 0.3081), download=True)``: torchvision's
  ``MNIST`` when torchvision is installed (and ``PL_USE_MOCKED_MNIST`` is not set, as in
  Lightning), else :class:`_MNIST`, which reads ``root/MNIST/complete/training.pt`` and
  ``test.pt`` (each a ``torch.save``-d ``(images, targets)`` pair: ``uint8`` images
  ``N x 28 x 28`` and ``int64`` targets), fetching them first from Lightning's public copy
  when missing and ``download``. Without a network it is a ``RuntimeError`` naming the folder
  to put the two files in; a program can write its own there.
- ``MNISTDataModule``: 55,000/5,000 train/val split of the training set (``val_split``), the
  test set for ``test``; loaders with ``drop_last=True``.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Sized
from typing import Any, Callable

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, random_split

from treadle.datamodule import DataModule

__all__ = ["MNIST", "MNISTDataModule"]

_DATASETS_PATH = "./data"


class _MNIST(Dataset):
    """MNIST from the two files Lightning hosts (no torchvision needed): items
    ``(image 1x28x28 float, target int)``, normalized by ``normalize = (mean, std)``."""

    RESOURCES = (
        "https://pl-public-data.s3.amazonaws.com/MNIST/processed/training.pt",
        "https://pl-public-data.s3.amazonaws.com/MNIST/processed/test.pt",
    )
    TRAIN_FILE_NAME = "training.pt"
    TEST_FILE_NAME = "test.pt"
    cache_folder_name = "complete"

    def __init__(
        self,
        root: str,
        train: bool = True,
        normalize: tuple = (0.1307, 0.3081),
        download: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.root = root
        self.train = train
        self.normalize = normalize
        self.prepare_data(download)
        name = self.TRAIN_FILE_NAME if train else self.TEST_FILE_NAME
        self.data, self.targets = torch.load(
            os.path.join(self.cached_folder_path, name), weights_only=True
        )

    def __getitem__(self, idx: int) -> tuple[Tensor, int]:
        img = self.data[idx].float().unsqueeze(0)
        if self.normalize is not None and len(self.normalize) == 2:
            img = self.normalize_tensor(img, *self.normalize)
        return img, int(self.targets[idx])

    def __len__(self) -> int:
        return len(self.data)

    @property
    def cached_folder_path(self) -> str:
        return os.path.join(self.root, "MNIST", self.cache_folder_name)

    def _check_exists(self, data_folder: str) -> bool:
        return all(
            os.path.isfile(os.path.join(data_folder, name))
            for name in (self.TRAIN_FILE_NAME, self.TEST_FILE_NAME)
        )

    def prepare_data(self, download: bool = True) -> None:
        folder = self.cached_folder_path
        if download and not self._check_exists(folder):
            self._download(folder)
        if not self._check_exists(folder):
            raise RuntimeError(
                f"MNIST: dataset not found in {folder!r} (download=False). Put "
                f"{self.TRAIN_FILE_NAME!r} and {self.TEST_FILE_NAME!r} there (each a "
                f"`torch.save`-d (uint8 images N x 28 x 28, int64 targets) pair) or pass "
                f"`download=True`."
            )

    def _download(self, data_folder: str) -> None:
        os.makedirs(data_folder, exist_ok=True)
        for url in self.RESOURCES:
            path = os.path.join(data_folder, os.path.basename(url))
            try:
                with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310
                    payload = response.read()
            except (urllib.error.URLError, OSError) as exc:
                raise RuntimeError(
                    f"MNIST: could not download {url} to {path!r} ({exc}). Without a network, "
                    f"put {self.TRAIN_FILE_NAME!r} and {self.TEST_FILE_NAME!r} in {data_folder!r} "
                    f"(each a `torch.save`-d (uint8 images N x 28 x 28, int64 targets) pair)."
                ) from exc
            with open(path, "wb") as f:
                f.write(payload)

    @staticmethod
    def normalize_tensor(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
        mean_t = torch.as_tensor(mean, dtype=tensor.dtype, device=tensor.device)
        std_t = torch.as_tensor(std, dtype=tensor.dtype, device=tensor.device)
        return tensor.sub(mean_t).div(std_t)


def _torchvision() -> Any:
    try:
        import torchvision  # type: ignore[import-not-found]
    except ImportError:
        return None
    return torchvision


def MNIST(*args: Any, **kwargs: Any) -> Dataset:
    """torchvision's ``MNIST(*args, **kwargs)`` when torchvision is installed (and
    ``PL_USE_MOCKED_MNIST`` is unset), else :class:`_MNIST` with the same arguments."""
    torchvision = None if os.getenv("PL_USE_MOCKED_MNIST") else _torchvision()
    if torchvision is not None:
        return torchvision.datasets.MNIST(*args, **kwargs)
    return _MNIST(*args, **kwargs)


class MNISTDataModule(DataModule):
    """MNIST's train, validation (``val_split`` images of the training set) and test splits.

    ``data_dir``: where the files are (or go); ``num_workers``: the loaders' workers;
    ``normalize``: with torchvision, ``Normalize((0.5,), (0.5,))`` after ``ToTensor``;
    ``seed``: kept (the split itself uses seed 42, as Lightning's); ``batch_size``.
    """

    name = "mnist"

    def __init__(
        self,
        data_dir: str = _DATASETS_PATH,
        val_split: int = 5000,
        num_workers: int = 16,
        normalize: bool = False,
        seed: int = 42,
        batch_size: int = 32,
    ) -> None:
        super().__init__()
        self.data_dir = data_dir
        self.val_split = val_split
        self.num_workers = num_workers
        self.normalize = normalize
        self.seed = seed
        self.batch_size = batch_size

    @property
    def num_classes(self) -> int:
        return 10

    def prepare_data(self) -> None:
        """Fetch both MNIST files to ``data_dir`` (once per node)."""
        MNIST(self.data_dir, train=True, download=True)
        MNIST(self.data_dir, train=False, download=True)

    def setup(self, stage: str) -> None:
        extra = {"transform": self.default_transforms} if self.default_transforms else {}
        dataset: Dataset = MNIST(self.data_dir, train=True, download=False, **extra)
        assert isinstance(dataset, Sized)
        n = len(dataset)
        self.dataset_train, self.dataset_val = random_split(
            dataset,
            [n - self.val_split, self.val_split],
            generator=torch.Generator().manual_seed(42),
        )

    def _loader(self, dataset: Dataset, shuffle: bool) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            drop_last=True,
            pin_memory=True,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.dataset_train, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.dataset_val, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        extra = {"transform": self.default_transforms} if self.default_transforms else {}
        return self._loader(MNIST(self.data_dir, train=False, download=False, **extra), False)

    @property
    def default_transforms(self) -> Callable | None:
        torchvision = _torchvision()
        if torchvision is None:
            return None
        transforms = torchvision.transforms
        if self.normalize:
            return transforms.Compose(
                [transforms.ToTensor(), transforms.Normalize(mean=(0.5,), std=(0.5,))]
            )
        return transforms.ToTensor()
