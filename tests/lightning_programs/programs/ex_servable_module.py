# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/examples/pytorch/servable_module/production.py
# (Apache-2.0, Copyright The Lightning AI team)
# Edits (nothing else changed):
#  - torchvision (not installable here): `torchvision.datasets.CIFAR10` -> a stand-in of 16
#    random 32x32 RGB images with labels (`root`/`download` unused), `T.Compose`/`T.Resize`/
#    `T.CenterCrop` -> the identity (the images stay 32x32), `T.ToTensor`/`T.ToPILImage` ->
#    the few lines of numpy and PIL they are, `get_torchvision_model` (Lightning's helper that
#    imports torchvision) -> a small CNN with resnet18's `fc` attribute (no pretrained weights);
#  - `configure_response`'s `7` (what the pretrained resnet18 answers) -> `3`, what the
#    stand-in answers under `seed_everything_default=42` (checked on Lightning 2.6.6);
#  - after `fit`, the validator's `successful` and its `resp.json()` asserted (the example
#    prints nothing to check).
# Needs fastapi, uvicorn and requests (Lightning's `ServableModuleValidator`; treadle[serve]).
import base64
from dataclasses import dataclass
from io import BytesIO
from os import path
from types import SimpleNamespace
from typing import Dict, Optional
from typing_extensions import override

import numpy as np
import torch
from lightning.pytorch import LightningDataModule, LightningModule, cli_lightning_logo
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.serve import ServableModule, ServableModuleValidator
from PIL import Image as PILImage

DATASETS_PATH = path.join(path.dirname(__file__), "..", "..", "Datasets")


class _CIFAR10(torch.utils.data.Dataset):  # edit: torchvision stand-ins
    def __init__(self, root, train=True, download=False, transform=None):
        g = torch.Generator().manual_seed(1 if train else 2)
        self.x = torch.randint(0, 256, (16, 32, 32, 3), generator=g, dtype=torch.uint8).numpy()
        self.y = torch.randint(0, 10, (16,), generator=g)
        self.transform = transform

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.transform(self.x[i]), int(self.y[i])


def _identity(*args, **kwargs):
    return lambda x: x


def _to_tensor():
    return lambda arr: torch.from_numpy(np.asarray(arr, dtype=np.float32) / 255.0).permute(2, 0, 1)


def _to_pil_image():
    return lambda t: PILImage.fromarray((t.permute(1, 2, 0).numpy() * 255).astype(np.uint8))


class _compose:
    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x


class _SmallResNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()
        )
        self.fc = torch.nn.Linear(8, 1000)

    def forward(self, x):
        return self.fc(self.features(x))


def get_torchvision_model(name, weights=None):
    return _SmallResNet()


torchvision = SimpleNamespace(datasets=SimpleNamespace(CIFAR10=_CIFAR10))
T = SimpleNamespace(
    Compose=_compose, Resize=_identity, CenterCrop=_identity, ToTensor=_to_tensor, ToPILImage=_to_pil_image
)


class LitModule(LightningModule):
    def __init__(self, name: str = "resnet18"):
        super().__init__()
        self.model = get_torchvision_model(name, weights="DEFAULT")
        self.model.fc = torch.nn.Linear(self.model.fc.in_features, 10)
        self.criterion = torch.nn.CrossEntropyLoss()

    @override
    def training_step(self, batch, batch_idx):
        inputs, labels = batch
        outputs = self.model(inputs)
        loss = self.criterion(outputs, labels)
        self.log("train_loss", loss)
        return loss

    @override
    def validation_step(self, batch, batch_idx):
        inputs, labels = batch
        outputs = self.model(inputs)
        loss = self.criterion(outputs, labels)
        self.log("val_loss", loss)

    @override
    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.001, momentum=0.9)


class CIFAR10DataModule(LightningDataModule):
    transform = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor()])

    def train_dataloader(self, *args, **kwargs):
        trainset = torchvision.datasets.CIFAR10(root=DATASETS_PATH, train=True, download=True, transform=self.transform)
        return torch.utils.data.DataLoader(trainset, batch_size=2, shuffle=True, num_workers=0)

    def val_dataloader(self, *args, **kwargs):
        valset = torchvision.datasets.CIFAR10(root=DATASETS_PATH, train=False, download=True, transform=self.transform)
        return torch.utils.data.DataLoader(valset, batch_size=2, shuffle=True, num_workers=0)


@dataclass(unsafe_hash=True)
class Image:
    height: Optional[int] = None
    width: Optional[int] = None
    extension: str = "JPEG"
    mode: str = "RGB"
    channel_first: bool = False

    def deserialize(self, data: str) -> torch.Tensor:
        encoded_with_padding = (data + "===").encode("UTF-8")
        img = base64.b64decode(encoded_with_padding)
        buffer = BytesIO(img)
        img = PILImage.open(buffer, mode="r")
        if self.height and self.width:
            img = img.resize((self.width, self.height))
        arr = np.array(img)
        return T.ToTensor()(arr).unsqueeze(0)


class Top1:
    def serialize(self, tensor: torch.Tensor) -> int:
        return torch.nn.functional.softmax(tensor).argmax().item()


class ProductionReadyModel(LitModule, ServableModule):
    def configure_payload(self):
        # 1: Access the train dataloader and load a single sample.
        image, _ = self.trainer.train_dataloader.dataset[0]

        # 2: Convert the image into a PIL Image to bytes and encode it with base64
        pil_image = T.ToPILImage()(image)
        buffered = BytesIO()
        pil_image.save(buffered, format="JPEG")
        img_str = base64.b64encode(buffered.getvalue()).decode("UTF-8")

        return {"body": {"x": img_str}}

    def configure_serialization(self):
        return {"x": Image(224, 224).deserialize}, {"output": Top1().serialize}

    def serve_step(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        return {"output": self.model(x)}

    def configure_response(self):
        return {"output": 3}  # edit: 7 -> the stand-in's answer


def cli_main():
    cli = LightningCLI(
        ProductionReadyModel,
        CIFAR10DataModule,
        seed_everything_default=42,
        save_config_kwargs={"overwrite": True},
        run=False,
        trainer_defaults={
            "accelerator": "cpu",
            "callbacks": [ServableModuleValidator()],
            "max_epochs": 1,
            "limit_train_batches": 5,
            "limit_val_batches": 5,
        },
    )
    cli.trainer.fit(cli.model, cli.datamodule)
    # edit: what the validator found
    (validator,) = [c for c in cli.trainer.callbacks if isinstance(c, ServableModuleValidator)]
    print("served:", validator.resp.json())
    assert validator.successful is True
    assert validator.resp.json() == {"output": 3}


if __name__ == "__main__":
    cli_lightning_logo()
    cli_main()
