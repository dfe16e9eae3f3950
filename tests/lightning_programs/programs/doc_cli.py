# Source: https://lightning.ai/docs/pytorch/stable/cli/lightning_cli_intermediate.html and
#   https://lightning.ai/docs/pytorch/stable/cli/lightning_cli_advanced_3.html ("Run from Python")
#   (docs/source-pytorch/cli/lightning_cli_intermediate.rst: main.py with DemoModel and
#    BoringDataModule, `fit --trainer.max_epochs`, `--model.learning_rate`, `--print_config`,
#    `--config`; lightning_cli_advanced_3.rst: `cli_main(args)` with ArgsType, `run=False`)
# Edits: the command lines given as `args=` lists (the page's "Run from Python" form) instead of
#   a shell; tiny limits; a tempfile dir as default_root_dir and config location; stdout of
#   --print_config captured; asserts on what the pages say happens.
import contextlib
import io
import os
import tempfile

import yaml
from lightning.pytorch.cli import ArgsType, LightningCLI

# simple demo classes for your convenience
from lightning.pytorch.demos.boring_classes import BoringDataModule, DemoModel


def cli_main(args: ArgsType = None, **kwargs):
    cli = LightningCLI(DemoModel, BoringDataModule, args=args, **kwargs)
    # note: don't call fit!!
    return cli


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        limits = [f"--trainer.default_root_dir={d}", "--trainer.limit_train_batches=4", "--trainer.limit_val_batches=2", "--trainer.enable_progress_bar=false"]
        cli = cli_main(["fit", "--trainer.max_epochs=2", "--model.learning_rate=0.1", *limits])
        assert cli.trainer.current_epoch == 2
        assert cli.model.learning_rate == 0.1
        assert isinstance(cli.datamodule, BoringDataModule)

        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                cli_main(["fit", "--model.out_dim=4", "--print_config", *limits])
            except SystemExit as exc:
                assert exc.code in (0, None)
        config = yaml.safe_load(out.getvalue())
        assert config["model"]["out_dim"] == 4
        assert config["model"]["learning_rate"] == 0.02
        assert "trainer" in config and config["trainer"]["limit_train_batches"] == 4

        path = os.path.join(d, "config.yaml")
        with open(path, "w") as f:
            f.write(out.getvalue())
        cli = cli_main(["fit", f"--config={path}", "--trainer.max_epochs=1"])
        assert cli.model.l1.out_features == 4
        assert cli.trainer.current_epoch == 1

        cli = cli_main(["--trainer.max_epochs=1", *limits], run=False)
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
        assert cli.trainer.global_step == 4
    print("OK")
