# Source: https://github.com/Lightning-AI/tutorials/blob/main/course_UvA-DL/13-contrastive-learning/SimCLR.py
#   (UvA DL course, tutorial 13: self-supervised contrastive learning with SimCLR, by Phillip
#   Lippe; CC BY-SA)
# Edits: STL10 (a download) -> random 3x16x16 images (64 "unlabeled", 32 "train", 32 "test",
#   10 classes); torchvision's transforms -> a few tensor stand-ins (flip, crop-and-resize by
#   interpolation, brightness jitter, grayscale, noise) inside the tutorial's
#   `ContrastiveTransformations`; `torchvision.models.resnet18(num_classes=...)` -> a small
#   convnet with resnet's `fc` attribute (replaced by the tutorial's projection head, then by
#   `nn.Identity()`); no pretrained files (the download loop and the "found pretrained model"
#   branches never run: the files do not exist); batch size 16, hidden_dim 16, 2 epochs of
#   SimCLR, 2 sizes of the logistic regression with 4 epochs and `check_val_every_n_epoch=2`;
#   `num_workers=0`, no `pin_memory` (CPU); plots and tqdm.notebook dropped;
#   `get_smaller_dataset`'s `unflatten(0, (10, 500))` -> `(10, -1)` over the first 30 sorted
#   features (random labels are not 10 equal classes). The ResNet baseline
#   section at the end is left out (it repeats the training function with a plain ResNet).
import os
from copy import deepcopy

import lightning as L
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
import torch.utils.data as data
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint

DATASET_PATH = os.environ.get("PATH_DATASETS", "data/")
CHECKPOINT_PATH = os.environ.get("PATH_CHECKPOINT", "saved_models/ContrastiveLearning/")
NUM_WORKERS = 0

# Setting the seed
L.seed_everything(42)

# Ensure that all operations are deterministic on GPU (if used) for reproducibility
torch.backends.cudnn.determinstic = True
torch.backends.cudnn.benchmark = False

device = torch.device("cuda:0") if torch.cuda.is_available() else torch.device("cpu")
print("Device:", device)
os.makedirs(CHECKPOINT_PATH, exist_ok=True)


class ContrastiveTransformations:
    def __init__(self, base_transforms, n_views=2):
        self.base_transforms = base_transforms
        self.n_views = n_views

    def __call__(self, x):
        return [self.base_transforms(x) for i in range(self.n_views)]


# -- stand-ins for torchvision.transforms (tensors in [0, 1], 3xHxW) --
def contrast_transforms(img):
    if torch.rand(()) < 0.5:  # RandomHorizontalFlip
        img = img.flip(-1)
    size = img.shape[-1]  # RandomResizedCrop(size)
    crop = int(torch.randint(size // 2, size + 1, ()))
    top, left = (int(torch.randint(0, size - crop + 1, ())) for _ in range(2))
    img = F.interpolate(img[None, :, top : top + crop, left : left + crop], size=(size, size), mode="bilinear")[0]
    if torch.rand(()) < 0.8:  # ColorJitter (brightness)
        img = (img * (0.5 + torch.rand(()))).clamp(0, 1)
    if torch.rand(()) < 0.2:  # RandomGrayscale
        img = img.mean(0, keepdim=True).expand(3, -1, -1)
    img = img + 0.05 * torch.randn_like(img)  # GaussianBlur stand-in: noise
    return (img - 0.5) / 0.5  # Normalize((0.5,), (0.5,))


def img_transforms(img):
    return (img - 0.5) / 0.5


class RandomImages(data.Dataset):
    """STL10 stand-in: random images and labels."""

    def __init__(self, n, seed, transform):
        g = torch.Generator().manual_seed(seed)
        self.data = torch.rand(n, 3, 16, 16, generator=g)
        self.labels = torch.randint(0, 10, (n,), generator=g)
        self.transform = transform

    def __len__(self):
        return len(self.data)

    def __getitem__(self, idx):
        return self.transform(self.data[idx]), self.labels[idx]


def resnet18(num_classes):
    """torchvision resnet18 stand-in: a small convnet ending in `fc`."""

    class SmallResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
            )
            self.fc = nn.Linear(8, num_classes)

        def forward(self, x):
            return self.fc(self.features(x))

    return SmallResNet()


unlabeled_data = RandomImages(64, 0, ContrastiveTransformations(contrast_transforms, n_views=2))
train_data_contrast = RandomImages(32, 1, ContrastiveTransformations(contrast_transforms, n_views=2))


class SimCLR(L.LightningModule):
    def __init__(self, hidden_dim, lr, temperature, weight_decay, max_epochs=500):
        super().__init__()
        self.save_hyperparameters()
        assert self.hparams.temperature > 0.0, "The temperature must be a positive float!"
        # Base model f(.)
        self.convnet = resnet18(num_classes=4 * hidden_dim)  # num_classes is the output size of the last linear layer
        # The MLP for g(.) consists of Linear->ReLU->Linear
        self.convnet.fc = nn.Sequential(
            self.convnet.fc,  # Linear(ResNet output, 4*hidden_dim)
            nn.ReLU(inplace=True),
            nn.Linear(4 * hidden_dim, hidden_dim),
        )

    def configure_optimizers(self):
        optimizer = optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        lr_scheduler = optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=self.hparams.max_epochs, eta_min=self.hparams.lr / 50
        )
        return [optimizer], [lr_scheduler]

    def info_nce_loss(self, batch, mode="train"):
        imgs, _ = batch
        imgs = torch.cat(imgs, dim=0)

        # Encode all images
        feats = self.convnet(imgs)
        # Calculate cosine similarity
        cos_sim = F.cosine_similarity(feats[:, None, :], feats[None, :, :], dim=-1)
        # Mask out cosine similarity to itself
        self_mask = torch.eye(cos_sim.shape[0], dtype=torch.bool, device=cos_sim.device)
        cos_sim.masked_fill_(self_mask, -9e15)
        # Find positive example -> batch_size//2 away from the original example
        pos_mask = self_mask.roll(shifts=cos_sim.shape[0] // 2, dims=0)
        # InfoNCE loss
        cos_sim = cos_sim / self.hparams.temperature
        nll = -cos_sim[pos_mask] + torch.logsumexp(cos_sim, dim=-1)
        nll = nll.mean()

        # Logging loss
        self.log(mode + "_loss", nll)
        # Get ranking position of positive example
        comb_sim = torch.cat(
            [cos_sim[pos_mask][:, None], cos_sim.masked_fill(pos_mask, -9e15)],  # First position positive example
            dim=-1,
        )
        sim_argsort = comb_sim.argsort(dim=-1, descending=True).argmin(dim=-1)
        # Logging ranking metrics
        self.log(mode + "_acc_top1", (sim_argsort == 0).float().mean())
        self.log(mode + "_acc_top5", (sim_argsort < 5).float().mean())
        self.log(mode + "_acc_mean_pos", 1 + sim_argsort.float().mean())

        return nll

    def training_step(self, batch, batch_idx):
        return self.info_nce_loss(batch, mode="train")

    def validation_step(self, batch, batch_idx):
        self.info_nce_loss(batch, mode="val")


def train_simclr(batch_size, max_epochs=500, **kwargs):
    trainer = L.Trainer(
        default_root_dir=os.path.join(CHECKPOINT_PATH, "SimCLR"),
        accelerator="auto",
        devices=1,
        max_epochs=max_epochs,
        callbacks=[
            ModelCheckpoint(save_weights_only=True, mode="max", monitor="val_acc_top5"),
            LearningRateMonitor("epoch"),
        ],
    )
    trainer.logger._default_hp_metric = None  # Optional logging argument that we don't need

    # Check whether pretrained model exists. If yes, load it and skip training
    pretrained_filename = os.path.join(CHECKPOINT_PATH, "SimCLR.ckpt")
    if os.path.isfile(pretrained_filename):
        print(f"Found pretrained model at {pretrained_filename}, loading...")
        # Automatically loads the model with the saved hyperparameters
        model = SimCLR.load_from_checkpoint(pretrained_filename)
    else:
        train_loader = data.DataLoader(
            unlabeled_data,
            batch_size=batch_size,
            shuffle=True,
            drop_last=True,
            num_workers=NUM_WORKERS,
        )
        val_loader = data.DataLoader(
            train_data_contrast,
            batch_size=batch_size,
            shuffle=False,
            drop_last=False,
            num_workers=NUM_WORKERS,
        )
        L.seed_everything(42)  # To be reproducable
        model = SimCLR(max_epochs=max_epochs, **kwargs)
        trainer.fit(model, train_loader, val_loader)
        # Load best checkpoint after training
        model = SimCLR.load_from_checkpoint(trainer.checkpoint_callback.best_model_path)

    return model


simclr_model = train_simclr(batch_size=16, hidden_dim=16, lr=5e-4, temperature=0.07, weight_decay=1e-4, max_epochs=2)
assert simclr_model.hparams.hidden_dim == 16


class LogisticRegression(L.LightningModule):
    def __init__(self, feature_dim, num_classes, lr, weight_decay, max_epochs=100):
        super().__init__()
        self.save_hyperparameters()
        # Mapping from representation h to classes
        self.model = nn.Linear(feature_dim, num_classes)

    def configure_optimizers(self):
        optimizer = optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        lr_scheduler = optim.lr_scheduler.MultiStepLR(
            optimizer, milestones=[int(self.hparams.max_epochs * 0.6), int(self.hparams.max_epochs * 0.8)], gamma=0.1
        )
        return [optimizer], [lr_scheduler]

    def _calculate_loss(self, batch, mode="train"):
        feats, labels = batch
        preds = self.model(feats)
        loss = F.cross_entropy(preds, labels)
        acc = (preds.argmax(dim=-1) == labels).float().mean()

        self.log(mode + "_loss", loss)
        self.log(mode + "_acc", acc)
        return loss

    def training_step(self, batch, batch_idx):
        return self._calculate_loss(batch, mode="train")

    def validation_step(self, batch, batch_idx):
        self._calculate_loss(batch, mode="val")

    def test_step(self, batch, batch_idx):
        self._calculate_loss(batch, mode="test")


train_img_data = RandomImages(32, 2, img_transforms)
test_img_data = RandomImages(32, 3, img_transforms)

print("Number of training examples:", len(train_img_data))
print("Number of test examples:", len(test_img_data))


@torch.no_grad()
def prepare_data_features(model, dataset):
    # Prepare model
    network = deepcopy(model.convnet)
    network.fc = nn.Identity()  # Removing projection head g(.)
    network.eval()
    network.to(device)

    # Encode all images
    data_loader = data.DataLoader(dataset, batch_size=64, num_workers=NUM_WORKERS, shuffle=False, drop_last=False)
    feats, labels = [], []
    for batch_imgs, batch_labels in data_loader:
        batch_imgs = batch_imgs.to(device)
        batch_feats = network(batch_imgs)
        feats.append(batch_feats.detach().cpu())
        labels.append(batch_labels)

    feats = torch.cat(feats, dim=0)
    labels = torch.cat(labels, dim=0)

    # Sort images by labels
    labels, idxs = labels.sort()
    feats = feats[idxs]

    return data.TensorDataset(feats, labels)


train_feats_simclr = prepare_data_features(simclr_model, train_img_data)
test_feats_simclr = prepare_data_features(simclr_model, test_img_data)


def train_logreg(batch_size, train_feats_data, test_feats_data, model_suffix, max_epochs=100, **kwargs):
    trainer = L.Trainer(
        default_root_dir=os.path.join(CHECKPOINT_PATH, "LogisticRegression"),
        accelerator="auto",
        devices=1,
        max_epochs=max_epochs,
        callbacks=[
            ModelCheckpoint(save_weights_only=True, mode="max", monitor="val_acc"),
            LearningRateMonitor("epoch"),
        ],
        enable_progress_bar=False,
        check_val_every_n_epoch=2,
    )
    trainer.logger._default_hp_metric = None

    # Data loaders
    train_loader = data.DataLoader(train_feats_data, batch_size=batch_size, shuffle=True, drop_last=False, num_workers=0)
    test_loader = data.DataLoader(test_feats_data, batch_size=batch_size, shuffle=False, drop_last=False, num_workers=0)

    # Check whether pretrained model exists. If yes, load it and skip training
    pretrained_filename = os.path.join(CHECKPOINT_PATH, f"LogisticRegression_{model_suffix}.ckpt")
    if os.path.isfile(pretrained_filename):
        print(f"Found pretrained model at {pretrained_filename}, loading...")
        model = LogisticRegression.load_from_checkpoint(pretrained_filename)
    else:
        L.seed_everything(42)  # To be reproducable
        model = LogisticRegression(**kwargs)
        trainer.fit(model, train_loader, test_loader)
        model = LogisticRegression.load_from_checkpoint(trainer.checkpoint_callback.best_model_path)

    # Test best model on train and validation set
    train_result = trainer.test(model, dataloaders=train_loader, verbose=False)
    test_result = trainer.test(model, dataloaders=test_loader, verbose=False)
    result = {"train": train_result[0]["test_acc"], "test": test_result[0]["test_acc"]}

    return model, result


def get_smaller_dataset(original_dataset, num_imgs_per_label):
    new_dataset = data.TensorDataset(
        *(t.unflatten(0, (10, -1))[:, :num_imgs_per_label].flatten(0, 1) for t in original_dataset.tensors)
    )
    return new_dataset


results = {}
for num_imgs_per_label in [1, 2]:
    # random labels are not balanced: take the first 30 sorted ones, 3 a class "slot"
    balanced = data.TensorDataset(*(t[:30] for t in train_feats_simclr.tensors))
    sub_train_set = get_smaller_dataset(balanced, num_imgs_per_label)
    _, small_set_results = train_logreg(
        batch_size=8,
        train_feats_data=sub_train_set,
        test_feats_data=test_feats_simclr,
        model_suffix=num_imgs_per_label,
        feature_dim=train_feats_simclr.tensors[0].shape[1],
        num_classes=10,
        lr=1e-3,
        weight_decay=1e-3,
        max_epochs=4,
    )
    results[num_imgs_per_label] = small_set_results

for k, score in results.items():
    print(f"Test accuracy for {k:3d} images per label: {100*score['test']:4.2f}%")
assert set(results) == {1, 2} and all(0.0 <= r["test"] <= 1.0 for r in results.values())
print("OK")
