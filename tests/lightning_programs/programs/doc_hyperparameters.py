# Source: https://lightning.ai/docs/pytorch/stable/common/hyperparameters.html
#   (pytorch-lightning docs/source-pytorch/common/hyperparameters.rst, "Configure
#   hyperparameters from the CLI (legacy)"; Apache-2.0, Copyright The Lightning AI team).
# Edits: the snippets joined into one program; `parse_args`/`parse_known_args` given argument
#   lists (the page's command lines); `Trainer.add_argparse_args` and
#   `Trainer.from_argparse_args` (removed in Lightning 2: the page predates it) -> the Trainer
#   arguments added to the parser by hand and `Trainer(accelerator=..., devices=...,
#   max_epochs=...)` built from them; the models filled in (GoodGAN's `Encoder`, training on
#   random tensors) and trained; asserted: each model gets its own arguments from the command
#   line, `**kwargs` takes the rest, and the Trainer the parsed values.
import sys
import tempfile
from argparse import ArgumentParser

import torch
from lightning.pytorch import LightningModule, Trainer
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

sys.argv = ["foo"]  # the page's testsetup
ROOT = tempfile.mkdtemp()

parser = ArgumentParser()
parser.add_argument("--layer_1_dim", type=int, default=128)
args = parser.parse_args(["--layer_1_dim", "64"])  # python trainer.py --layer_1_dim 64
assert args.layer_1_dim == 64


def add_trainer_args(parser):  # edit: in place of Trainer.add_argparse_args (Lightning 1)
    parser.add_argument("--accelerator", type=str, default="auto")
    parser.add_argument("--devices", default="auto")
    parser.add_argument("--max_epochs", type=int, default=1)
    return parser


def trainer_from_args(args):  # edit: in place of Trainer.from_argparse_args (Lightning 1)
    return Trainer(accelerator=args.accelerator, devices=args.devices, max_epochs=args.max_epochs, default_root_dir=ROOT, enable_progress_bar=False)


class Trains(LightningModule):  # added: the training every model below shares
    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.cross_entropy(self(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        return DataLoader(TensorDataset(torch.randn(32, 28 * 28), torch.randint(0, 10, (32,))), batch_size=8)


class LitModel(Trains):
    def __init__(self, encoder_layers=12, data_path="/some/path", **kwargs):  # added: __init__
        super().__init__()
        self.encoder_layers, self.data_path = encoder_layers, data_path
        self.layer = nn.Linear(28 * 28, 10)

    def forward(self, x):
        return self.layer(x)

    @staticmethod
    def add_model_specific_args(parent_parser):
        parser = parent_parser.add_argument_group("LitModel")
        parser.add_argument("--encoder_layers", type=int, default=12)
        parser.add_argument("--data_path", type=str, default="/some/path")
        return parent_parser


# ----------------
# trainer_main.py
# ----------------
parser = ArgumentParser()

# add PROGRAM level args
parser.add_argument("--conda_env", type=str, default="some_name")
parser.add_argument("--notification_email", type=str, default="will@email.com")

# add model specific args
parser = LitModel.add_model_specific_args(parser)

# add all the available trainer options to argparse
parser = add_trainer_args(parser)

# python trainer_main.py --accelerator 'cpu' --devices 1 --conda_env 'my_env' --encoder_layers 12
args = parser.parse_args(["--accelerator", "cpu", "--devices", "1", "--conda_env", "my_env", "--encoder_layers", "12"])

# init the trainer like this
trainer = trainer_from_args(args)
assert trainer.num_devices == 1

# init the model with all the key-value pairs
dict_args = vars(args)
model = LitModel(**dict_args)
assert model.encoder_layers == 12 and model.data_path == "/some/path"
trainer.fit(model)
assert trainer.global_step == 4


class Encoder(nn.Module):  # filled in: the page's GoodGAN uses one
    def __init__(self, layers):
        super().__init__()
        self.net = nn.Sequential(*[nn.Linear(28 * 28, 28 * 28) for _ in range(layers)], nn.Linear(28 * 28, 10))

    def forward(self, x):
        return self.net(x)


class LitMNIST(Trains):
    def __init__(self, layer_1_dim, **kwargs):
        super().__init__()
        self.layer_1 = nn.Linear(28 * 28, layer_1_dim)
        self.head = nn.Linear(layer_1_dim, 10)  # added

    def forward(self, x):
        return self.head(self.layer_1(x))

    @staticmethod
    def add_model_specific_args(parent_parser):
        parser = parent_parser.add_argument_group("LitMNIST")
        parser.add_argument("--layer_1_dim", type=int, default=128)
        return parent_parser


class GoodGAN(Trains):
    def __init__(self, encoder_layers, **kwargs):
        super().__init__()
        self.encoder = Encoder(layers=encoder_layers)

    def forward(self, x):
        return self.encoder(x)

    @staticmethod
    def add_model_specific_args(parent_parser):
        parser = parent_parser.add_argument_group("GoodGAN")
        parser.add_argument("--encoder_layers", type=int, default=12)
        return parent_parser


def main(args):
    dict_args = vars(args)

    # pick model
    if args.model_name == "gan":
        model = GoodGAN(**dict_args)
    elif args.model_name == "mnist":
        model = LitMNIST(**dict_args)

    trainer = trainer_from_args(args)
    trainer.fit(model)
    return model, trainer  # added: for the checks


def run(argv):
    parser = ArgumentParser()
    parser = add_trainer_args(parser)

    # figure out which model to use
    parser.add_argument("--model_name", type=str, default="gan", help="gan or mnist")

    # THIS LINE IS KEY TO PULL THE MODEL NAME
    temp_args, _ = parser.parse_known_args(argv)

    # let the model add what it wants
    if temp_args.model_name == "gan":
        parser = GoodGAN.add_model_specific_args(parser)
    elif temp_args.model_name == "mnist":
        parser = LitMNIST.add_model_specific_args(parser)

    args = parser.parse_args(argv)

    # train
    return main(args)


# $ python main.py --model_name gan --encoder_layers 24  (2 here: small)
model, trainer = run(["--model_name", "gan", "--encoder_layers", "2"])
assert isinstance(model, GoodGAN) and len(model.encoder.net) == 3 and trainer.global_step == 4
# $ python main.py --model_name mnist --layer_1_dim 128
model, trainer = run(["--model_name", "mnist", "--layer_1_dim", "128", "--max_epochs", "2"])
assert isinstance(model, LitMNIST) and model.layer_1.out_features == 128 and trainer.global_step == 8
try:  # the GAN's argument is not the MNIST model's
    run(["--model_name", "mnist", "--encoder_layers", "3"])
except SystemExit as exc:
    assert exc.code == 2
else:
    raise AssertionError("argparse should refuse --encoder_layers for mnist")
print("doc_hyperparameters: ok")
