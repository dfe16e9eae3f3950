# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/utilities/test_upgrade_checkpoint.py
#   (test_upgrade_checkpoint_file_missing, test_upgrade_checkpoint_single_file,
#    test_upgrade_checkpoint_directory, test_upgrade_checkpoint_map_location), and the
#   `python -m lightning.pytorch.utilities.upgrade_checkpoint PATH` use that the migration
#   module's docstring names
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into a __main__ program asserting what they asserted; tmp_path -> a
#   tempfile dir; mock.patch("sys.argv") -> sys.argv set and restored by hand; caplog -> a
#   handler on the root logger recording ERROR records, added before the import as pytest's is;
#   pytest.raises(SystemExit) -> try/except. The tests patch the module's `torch.load`,
#   `torch.save` and `migrate_checkpoint` with mocks (empty files never read); here each file is
#   a real checkpoint of Lightning 1.5.9's layout (`torch.save` of a dict: epoch, global_step,
#   the version, a state_dict) and the mocks' call asserts become what those calls leave: every
#   file found is rewritten upgraded (the old version kept as
#   `legacy_pytorch-lightning_version`, the fit loop's progress added) beside a `.bak` copy of
#   the original, the others left alone; `--map-to-cpu` loads to the CPU (on this CPU-only
#   machine that shows as the run succeeding with CPU tensors). Added: the `python -m` run (a
#   subprocess of `sys.executable`, by the module path this program imported `main` from).
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.text = ""

    def emit(self, record):
        self.text += record.getMessage() + "\n"


# caplog's handler is on the root logger when pytest imports the test module (Lightning's
# logger then propagates to it rather than printing on its own)
records = Records()
logging.getLogger().addHandler(records)

from lightning.pytorch.utilities.upgrade_checkpoint import main as upgrade_main  # noqa: E402


def run_main(argv):
    saved = sys.argv
    sys.argv = argv
    try:
        upgrade_main()
    finally:
        sys.argv = saved


def old_checkpoint(path, step=23):
    path.parent.mkdir(exist_ok=True, parents=True)
    torch.save(
        {
            "epoch": 1,
            "global_step": step,
            "pytorch-lightning_version": "1.5.9",
            "state_dict": {"layer.weight": torch.ones(2, 3)},
        },
        path,
    )


def assert_upgraded(path, step=23):
    ckpt = torch.load(path)
    assert ckpt["legacy_pytorch-lightning_version"] == "1.5.9", ckpt
    assert ckpt["pytorch-lightning_version"] != "1.5.9"
    assert ckpt["loops"]["fit_loop"]["epoch_progress"]["current"]["completed"] == 1
    assert ckpt["global_step"] == step
    assert torch.equal(ckpt["state_dict"]["layer.weight"], torch.ones(2, 3))
    backup = torch.load(path.with_suffix(".bak"))
    assert backup["pytorch-lightning_version"] == "1.5.9" and "loops" not in backup


def assert_untouched(path):
    assert "legacy_pytorch-lightning_version" not in torch.load(path)
    assert not path.with_suffix(".bak").exists()


def test_upgrade_checkpoint_file_missing(tmp_path):
    records.text = ""
    try:
        # path to single file (missing)
        file = tmp_path / "checkpoint.ckpt"
        try:
            run_main(["upgrade_checkpoint.py", str(file)])
        except SystemExit:
            pass
        else:
            raise AssertionError("SystemExit not raised")
        assert f"The path {file} does not exist" in records.text, records.text

        records.text = ""

        # path to non-empty directory, but no checkpoints with matching extension
        file.touch()
        try:
            run_main(["upgrade_checkpoint.py", str(tmp_path), "--extension", ".other"])
        except SystemExit:
            pass
        else:
            raise AssertionError("SystemExit not raised")
        assert "No checkpoint files with extension .other were found" in records.text, records.text
    finally:
        records.text = ""


def test_upgrade_checkpoint_single_file(tmp_path):
    file = tmp_path / "checkpoint.ckpt"
    old_checkpoint(file)
    run_main(["upgrade_checkpoint.py", str(file)])
    assert_upgraded(file)


def test_upgrade_checkpoint_directory(tmp_path):
    top_files = [tmp_path / "top0.ckpt", tmp_path / "top1.ckpt"]
    nested_files = [
        tmp_path / "subdir0" / "nested0.ckpt",
        tmp_path / "subdir0" / "nested1.other",
        tmp_path / "subdir1" / "nested2.ckpt",
    ]

    for file in top_files + nested_files:
        old_checkpoint(file)

    # directory with recursion
    run_main(["upgrade_checkpoint.py", str(tmp_path)])

    for file in (
        tmp_path / "top0.ckpt",
        tmp_path / "top1.ckpt",
        tmp_path / "subdir0" / "nested0.ckpt",
        tmp_path / "subdir1" / "nested2.ckpt",
    ):
        assert_upgraded(file)
    assert_untouched(tmp_path / "subdir0" / "nested1.other")


def test_upgrade_checkpoint_map_location(tmp_path):
    file = tmp_path / "checkpoint.ckpt"
    old_checkpoint(file)
    run_main(["upgrade_checkpoint.py", str(file)])
    assert_upgraded(file)
    old_checkpoint(file, step=7)
    os.remove(file.with_suffix(".bak"))
    run_main(["upgrade_checkpoint.py", str(file), "--map-to-cpu"])
    assert_upgraded(file, step=7)
    assert torch.load(file)["state_dict"]["layer.weight"].device == torch.device("cpu")


def test_python_dash_m(tmp_path):
    file = tmp_path / "model.ckpt"
    old_checkpoint(file)
    # `python -m lightning.pytorch.utilities.upgrade_checkpoint model.ckpt`, by the path this
    # program imported `main` from
    name = next(
        path
        for path, module in list(sys.modules.items())
        if path.endswith(".utilities.upgrade_checkpoint") and getattr(module, "main", None) is upgrade_main
    )
    proc = subprocess.run([sys.executable, "-m", name, str(file)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert_upgraded(file)


if __name__ == "__main__":
    for test in (
        test_upgrade_checkpoint_file_missing,
        test_upgrade_checkpoint_single_file,
        test_upgrade_checkpoint_directory,
        test_upgrade_checkpoint_map_location,
        test_python_dash_m,
    ):
        with tempfile.TemporaryDirectory() as d:
            test(Path(d))
    print("ok")
