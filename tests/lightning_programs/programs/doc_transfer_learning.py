# Source: https://lightning.ai/docs/pytorch/stable/advanced/transfer_learning.html
#   (pytorch-lightning docs/source-pytorch/advanced/transfer_learning.rst; Apache-2.0,
#   Copyright The Lightning AI team).
# Edits: the snippets joined into one program on random 3x32x32 "CIFAR-10" images:
#  - the AutoEncoder (its `...` filled in, 100-dim code) trained and saved, loaded back with
#    `load_from_checkpoint(PATH).encoder`, frozen (`requires_grad_(False)`: the page calls
#    `.freeze()` on the encoder, an nn.Module that has none), the classifier trained on top;
#  - `torchvision.models.resnet50(weights="DEFAULT")` (torchvision not installed, no download)
#    -> a small stand-in with resnet's children (`conv1` ... `avgpool`, `fc`) and `fc.in_features`;
#    `ImagenetTransferLearning` finetuned, `load_from_checkpoint(PATH)`, `freeze()`, predictions;
#  - the BERT example left out (transformers and its download);
#  - `BackboneFinetuning(unfreeze_backbone_at_epoch=10 -> 2, ...)` with the page's
#    `ResNetClassifier` (`max_epochs=20 -> 4`): the backbone frozen, then added to the optimizer
#    at 10% of the head's lr; the page's `CustomFinetuning(BaseFinetuning)` (unfreeze at 5 -> 1),
#    its param groups counted.
import torch
import torch.nn as nn
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import BackboneFinetuning
from lightning.pytorch.callbacks.finetuning import BaseFinetuning
from torch.utils.data import DataLoader, TensorDataset


def cifar(n=32):
    g = torch.Generator().manual_seed(0)
    return TensorDataset(torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g))


def trainer(**kwargs):
    kwargs.setdefault("max_epochs", 1)
    return Trainer(enable_progress_bar=False, enable_model_summary=False, logger=False, **kwargs)


class models:  # noqa: N801 -- stands in for `torchvision.models`
    class _ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
            self.bn1 = nn.BatchNorm2d(8)
            self.relu = nn.ReLU()
            self.maxpool = nn.MaxPool2d(2)
            self.layer1 = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
            self.layer2 = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())
            self.layer3 = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.ReLU())
            self.layer4 = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1), nn.ReLU())
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(32, 1000)

    @staticmethod
    def resnet50(weights=None):
        return models._ResNet()


# -- Use a pretrained LightningModule --
class Encoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 100))

    def forward(self, x):
        return self.net(x)


class Decoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(100, 3 * 32 * 32)

    def forward(self, z):
        return self.net(z).view(-1, 3, 32, 32)


class AutoEncoder(LightningModule):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.decoder = Decoder()

    def training_step(self, batch, batch_idx):
        x, _ = batch
        return nn.functional.mse_loss(self.decoder(self.encoder(x)), x)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)


t = trainer()
t.fit(AutoEncoder(), DataLoader(cifar(), batch_size=8))
PATH = "autoencoder.ckpt"
t.save_checkpoint(PATH)


class CIFAR10Classifier(LightningModule):
    def __init__(self):
        super().__init__()
        # init the pretrained LightningModule
        self.feature_extractor = AutoEncoder.load_from_checkpoint(PATH).encoder
        self.feature_extractor.requires_grad_(False)  # the page: .freeze() (a LightningModule's)

        # the autoencoder outputs a 100-dim representation and CIFAR-10 has 10 classes
        self.classifier = nn.Linear(100, 10)

    def forward(self, x):
        representations = self.feature_extractor(x)
        x = self.classifier(representations)
        return x

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.cross_entropy(self(x), y)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)


model = CIFAR10Classifier()
pretrained = model.feature_extractor.net[1].weight.clone()
assert torch.equal(pretrained, AutoEncoder.load_from_checkpoint(PATH).encoder.net[1].weight)
trainer().fit(model, DataLoader(cifar(), batch_size=8))
assert torch.equal(model.feature_extractor.net[1].weight, pretrained)  # frozen: unchanged


# -- Example: Imagenet (Computer Vision) --
class ImagenetTransferLearning(LightningModule):
    def __init__(self):
        super().__init__()

        # init a pretrained resnet
        backbone = models.resnet50(weights="DEFAULT")
        num_filters = backbone.fc.in_features
        layers = list(backbone.children())[:-1]
        self.feature_extractor = nn.Sequential(*layers)
        self.feature_extractor.eval()

        # use the pretrained model to classify cifar-10 (10 image classes)
        num_target_classes = 10
        self.classifier = nn.Linear(num_filters, num_target_classes)

    def forward(self, x):
        with torch.no_grad():
            representations = self.feature_extractor(x).flatten(1)
        x = self.classifier(representations)
        return x

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.cross_entropy(self(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def train_dataloader(self):
        return DataLoader(cifar(), batch_size=8)


model = ImagenetTransferLearning()
backbone_before = [p.clone() for p in model.feature_extractor.parameters()]
t = trainer()
t.fit(model)
assert all(torch.equal(a, b) for a, b in zip(backbone_before, model.feature_extractor.parameters()))
t.save_checkpoint("imagenet.ckpt")
PATH = "imagenet.ckpt"

model = ImagenetTransferLearning.load_from_checkpoint(PATH)
model.freeze()
assert not model.training and not any(p.requires_grad for p in model.parameters())


def some_images_from_cifar10():
    return cifar(4).tensors[0]


x = some_images_from_cifar10()
predictions = model(x)
assert predictions.shape == (4, 10), predictions.shape


# -- Automated Finetuning with Callbacks --
class ResNetClassifier(LightningModule):
    def __init__(self, num_classes=10, learning_rate=1e-3):
        super().__init__()
        self.save_hyperparameters()

        # Create backbone from pretrained ResNet
        resnet = models.resnet50(weights="DEFAULT")
        # Remove the final classification layer
        self.backbone = nn.Sequential(*list(resnet.children())[:-1])

        # Add custom classification head
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(resnet.fc.in_features, 512),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Linear(512, num_classes)
        )

    def forward(self, x):
        # Extract features with backbone
        features = self.backbone(x)
        # Classify with head
        return self.head(features)

    def training_step(self, batch, batch_idx):
        x, y = batch
        y_hat = self(x)
        loss = nn.functional.cross_entropy(y_hat, y)
        self.log('train_loss', loss)
        return loss

    def configure_optimizers(self):
        # Initially only train the head - backbone will be added by callback
        return torch.optim.Adam(self.head.parameters(), lr=self.hparams.learning_rate)

    def train_dataloader(self):
        return DataLoader(cifar(), batch_size=8)


class Record(Callback):  # records the optimizer's groups
    def __init__(self):
        self.groups = []

    def on_train_epoch_end(self, trainer, pl_module):
        self.groups.append([g["lr"] for g in trainer.optimizers[0].param_groups])


# Setup the finetuning callback
backbone_finetuning = BackboneFinetuning(
    unfreeze_backbone_at_epoch=2,  # Start unfreezing backbone at epoch 10 (here: 2)
    lambda_func=lambda epoch: 1.5,  # Gradually increase backbone learning rate
    backbone_initial_ratio_lr=0.1,  # Backbone starts at 10% of head learning rate
    should_align=True,  # Align rates when backbone rate reaches head rate
    verbose=True  # Print learning rates during training
)

model = ResNetClassifier()
record = Record()
trainer_ = trainer(callbacks=[backbone_finetuning, record], max_epochs=4)
trainer_.fit(model)
assert [len(g) for g in record.groups] == [1, 1, 2, 2], record.groups
assert abs(record.groups[2][1] - 1e-4) < 1e-12, record.groups  # 10% of the head's lr
assert abs(record.groups[3][1] - 1.5e-4) < 1e-12, record.groups  # times lambda_func
assert all(p.requires_grad for p in model.backbone.parameters())


# -- Custom Finetuning Strategies --
class CustomFinetuning(BaseFinetuning):
    def __init__(self, unfreeze_at_epoch=5, layers_per_epoch=2):
        super().__init__()
        self.unfreeze_at_epoch = unfreeze_at_epoch
        self.layers_per_epoch = layers_per_epoch

    def freeze_before_training(self, pl_module):
        # Freeze the entire backbone initially
        self.freeze(pl_module.backbone)

    def finetune_function(self, pl_module, epoch, optimizer):
        # Gradually unfreeze layers
        if epoch >= self.unfreeze_at_epoch:
            layers_to_unfreeze = min(
                self.layers_per_epoch,
                len(list(pl_module.backbone.children()))
            )

            # Unfreeze from the top layers down
            backbone_children = list(pl_module.backbone.children())
            for layer in backbone_children[-layers_to_unfreeze:]:
                self.unfreeze_and_add_param_group(
                    layer, optimizer, lr=1e-4
                )


model = ResNetClassifier()
record = Record()
trainer(callbacks=[CustomFinetuning(unfreeze_at_epoch=1), record], max_epochs=2).fit(model)
# epoch 1: the last two children (layer4 with parameters, avgpool without) -> one group more
assert [len(g) for g in record.groups] == [1, 2], record.groups
assert all(p.requires_grad for p in model.backbone[-2].parameters())
assert not any(p.requires_grad for p in model.backbone[0].parameters())
print("transfer learning page: ok")
