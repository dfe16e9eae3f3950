# Source: https://github.com/Lightning-AI/dl-fundamentals/blob/main/unit09-performance/9.4-compile/compile.py
# (Sebastian Raschka, Lightning AI "Deep Learning Fundamentals", unit 9.4: `torch.compile` of the
# model inside a LightningModule whose configure_optimizers reads `self.trainer.model.parameters()`,
# `precision="16-mixed"`, ModelCheckpoint on val_acc, CSVLogger with `log_every_n_steps=10`,
# `deterministic=True`, and the metrics.csv read back per epoch).
# Edits (nothing else changed):
#  - the IMDB download, `datasets.load_dataset`, the DistilBERT tokenizer and
#    `local_dataset_utilities` (datasets, transformers and pandas are not installed here) ->
#    random token ids: 640 train, 64 val, 64 test reviews of 32 tokens (vocabulary 1000) with an
#    attention mask and a label that a few "sentiment" tokens decide; `IMDBDataset` as the
#    helper module defines it (a partition's rows by index);
#  - `AutoModelForSequenceClassification.from_pretrained("distilbert-base-uncased", num_labels=2)`
#    -> a small stand-in with the same call (`model(input_ids, attention_mask=, labels=)`) returning
#    the same `"loss"`/`"logits"` keys (token embeddings averaged under the mask, a linear layer);
#  - `torch.compile(model)` -> `torch.compile(model, backend="eager")` (dynamo without inductor's
#    C++ build: seconds, not minutes, on a busy CPU);
#  - `accelerator="gpu", devices=[7]` -> `accelerator="cpu", devices=1`; `num_workers=4` -> 0;
#    max_epochs 3 -> 2; `precision="16-mixed"` kept (Lightning 2.6.6 runs bf16-mixed on the CPU,
#    with a warning);
#  - plot_logs: pandas and matplotlib -> the `csv` module: the per-epoch means printed instead of
#    saved as PDFs (it is defined, as published, and called here after fit);
#  - `watermark` (not installed) dropped: its print line.
import csv
import os
import os.path as op
import time

import lightning as L
import torch
import torchmetrics
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader, Dataset


class IMDBDataset(Dataset):
    def __init__(self, dataset_dict, partition_key="train"):
        self.partition = dataset_dict[partition_key]

    def __getitem__(self, index):
        return self.partition[index]

    def __len__(self):
        return self.partition.num_rows


class RandomReviews:
    """A tokenized partition's stand-in: rows of ``input_ids``, ``attention_mask``, ``label``."""

    def __init__(self, n, seed, length=32, vocab=1000):
        g = torch.Generator().manual_seed(seed)
        self.input_ids = torch.randint(10, vocab, (n, length), generator=g)
        self.label = torch.randint(0, 2, (n,), generator=g)
        # a few sentiment tokens (1-4 positive, 5-9 negative) at random places
        where = torch.randint(0, length, (n, 4), generator=g)
        words = torch.where(self.label[:, None] == 1, 1, 5) + torch.randint(0, 4, (n, 4), generator=g)
        self.input_ids.scatter_(1, where, words)
        self.attention_mask = torch.ones(n, length, dtype=torch.long)
        self.num_rows = n

    def __getitem__(self, index):
        return {
            "input_ids": self.input_ids[index],
            "attention_mask": self.attention_mask[index],
            "label": self.label[index],
        }


class SequenceClassifierStandIn(torch.nn.Module):
    """DistilBERT-for-classification's call and outputs, on a bag of embeddings."""

    def __init__(self, vocab=1000, dim=32, num_labels=2):
        super().__init__()
        self.embeddings = torch.nn.Embedding(vocab, dim)
        self.classifier = torch.nn.Linear(dim, num_labels)

    def forward(self, input_ids, attention_mask=None, labels=None):
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        mask = mask.unsqueeze(-1).to(torch.float32)
        pooled = (self.embeddings(input_ids) * mask).sum(1) / mask.sum(1)
        logits = self.classifier(pooled)
        loss = torch.nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return {"loss": loss, "logits": logits}


def plot_logs(log_dir):
    with open(op.join(log_dir, "metrics.csv"), newline="") as f:
        metrics = list(csv.DictReader(f))

    aggreg_metrics = []
    agg_col = "epoch"
    for i in sorted({int(row[agg_col]) for row in metrics}):
        dfg = [row for row in metrics if int(row[agg_col]) == i]
        agg = {}
        for name in ["train_loss", "val_loss", "train_acc", "val_acc"]:
            values = [float(row[name]) for row in dfg if row.get(name)]
            # (pandas' mean: NaN where a column has no value in the epoch)
            agg[name] = sum(values) / len(values) if values else float("nan")
        agg[agg_col] = i
        aggreg_metrics.append(agg)

    for agg in aggreg_metrics:
        print(agg)


class LightningModel(L.LightningModule):
    def __init__(self, model, learning_rate=5e-5):
        super().__init__()

        self.learning_rate = learning_rate
        self.model = model

        self.train_acc = torchmetrics.Accuracy(task="multiclass", num_classes=2)
        self.val_acc = torchmetrics.Accuracy(task="multiclass", num_classes=2)
        self.test_acc = torchmetrics.Accuracy(task="multiclass", num_classes=2)

    def forward(self, input_ids, attention_mask, labels):
        return self.model(input_ids, attention_mask=attention_mask, labels=labels)

    def training_step(self, batch, batch_idx):
        outputs = self(
            batch["input_ids"],
            attention_mask=batch["attention_mask"],
            labels=batch["label"],
        )
        self.log("train_loss", outputs["loss"])
        with torch.no_grad():
            logits = outputs["logits"]
            predicted_labels = torch.argmax(logits, 1)
            self.train_acc(predicted_labels, batch["label"])
            self.log("train_acc", self.train_acc, on_epoch=True, on_step=False)
        return outputs["loss"]  # this is passed to the optimizer for training

    def validation_step(self, batch, batch_idx):
        outputs = self(
            batch["input_ids"],
            attention_mask=batch["attention_mask"],
            labels=batch["label"],
        )
        self.log("val_loss", outputs["loss"], prog_bar=True)

        logits = outputs["logits"]
        predicted_labels = torch.argmax(logits, 1)
        self.val_acc(predicted_labels, batch["label"])
        self.log("val_acc", self.val_acc, prog_bar=True)

    def test_step(self, batch, batch_idx):
        outputs = self(
            batch["input_ids"],
            attention_mask=batch["attention_mask"],
            labels=batch["label"],
        )

        logits = outputs["logits"]
        predicted_labels = torch.argmax(logits, 1)
        self.test_acc(predicted_labels, batch["label"])
        self.log("accuracy", self.test_acc, prog_bar=True)

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(
            self.trainer.model.parameters(), lr=self.learning_rate
        )
        return optimizer


if __name__ == "__main__":

    print("Torch CUDA available?", torch.cuda.is_available())

    torch.manual_seed(123)

    # #########################
    # ## 1 Loading the Dataset
    # #########################
    # ########################################
    # ## 2 Tokenization and Numericalization
    # #######################################
    imdb_tokenized = {
        "train": RandomReviews(640, seed=1),
        "validation": RandomReviews(64, seed=2),
        "test": RandomReviews(64, seed=3),
    }
    os.environ["TOKENIZERS_PARALLELISM"] = "false"

    # ########################################
    # ## 3 Set Up DataLoaders
    # ########################################

    train_dataset = IMDBDataset(imdb_tokenized, partition_key="train")
    val_dataset = IMDBDataset(imdb_tokenized, partition_key="validation")
    test_dataset = IMDBDataset(imdb_tokenized, partition_key="test")

    train_loader = DataLoader(
        dataset=train_dataset, batch_size=64, shuffle=True, num_workers=0
    )

    val_loader = DataLoader(dataset=val_dataset, batch_size=64, num_workers=0)

    test_loader = DataLoader(dataset=test_dataset, batch_size=64, num_workers=0)

    # ########################################
    # ## 4 Initializing the Model
    # ########################################

    model = SequenceClassifierStandIn(num_labels=2)

    model = torch.compile(model, backend="eager")

    # ########################################
    # ## 5 Finetuning
    # ########################################

    lightning_model = LightningModel(model)

    callbacks = [
        ModelCheckpoint(save_top_k=1, mode="max", monitor="val_acc")  # save top 1 model
    ]
    logger = CSVLogger(save_dir="logs/", name="my-model")

    trainer = L.Trainer(
        max_epochs=2,
        callbacks=callbacks,
        precision="16-mixed",
        accelerator="cpu",
        devices=1,
        logger=logger,
        log_every_n_steps=10,
        deterministic=True,
    )

    start = time.time()
    trainer.fit(
        model=lightning_model,
        train_dataloaders=train_loader,
        val_dataloaders=val_loader,
    )

    end = time.time()
    elapsed = end - start
    print(f"Time elapsed {elapsed/60:.2f} min")

    plot_logs(trainer.logger.log_dir)
