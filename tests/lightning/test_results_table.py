"""The table ``trainer.validate()``/``trainer.test()`` print with ``verbose=True`` (the default).

Behaviour from Lightning's ``_EvaluationLoop._print_results`` and its test
``tests/tests_pytorch/trainer/logging_/test_eval_loop_logging.py::test_native_print_results``
(Apache-2.0, Copyright The Lightning AI team): a "<Stage> metric" column, one "DataLoader N"
column per dataloader, the metric names sorted, the ``/dataloader_idx_N`` suffix dropped, a
blank cell where a dataloader did not log the metric. Rewritten for treadle, not copied.
"""

from __future__ import annotations

import torch
from lightning_boring import BoringModel

import treadle
from treadle._results import results_table


def trainer(tmp_path):
    return treadle.Trainer(
        default_root_dir=tmp_path,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_test_batches=2,
        limit_val_batches=2,
    )


def test_results_table_layout():
    results = [
        {"b/dataloader_idx_0": torch.tensor(1.0), "a/dataloader_idx_0": 0.5},
        {"b/dataloader_idx_1": torch.tensor(2.0)},
    ]
    bar = "─" * 80
    assert results_table(results, "test", width=80).splitlines() == [
        bar,
        f"{'Test metric':^25}{'DataLoader 0':^25}{'DataLoader 1':^25}".rstrip(),
        bar,
        f"{'a':^25}{'0.5':^25}{' ':^25}".rstrip(),
        f"{'b':^25}{'1.0':^25}{'2.0':^25}".rstrip(),
        bar,
    ]
    assert results_table([{}], "validate", width=80) == ""


def test_test_prints_the_table_and_verbose_false_does_not(tmp_path, capsys):
    t = trainer(tmp_path)
    results = t.test(BoringModel())
    out = capsys.readouterr().out
    assert "Test metric" in out and "DataLoader 0" in out
    assert f"{results[0]['test_loss']}" in out or f"{float(results[0]['test_loss'])}" in out
    t.test(BoringModel(), verbose=False)
    assert "Test metric" not in capsys.readouterr().out


def test_validate_prints_a_validate_table(tmp_path, capsys):
    trainer(tmp_path).validate(BoringModel())
    assert "Validate metric" in capsys.readouterr().out
