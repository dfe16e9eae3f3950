# Source: https://lightning.ai/docs/pytorch/stable/common/precision_basic.html
#   (pytorch-lightning docs/source-pytorch/common/precision_basic.rst; Apache-2.0, Copyright The
#   Lightning AI team)
# Edits: the part of doc_precision.py that treadle does differently by design, split out: the
#   page's "Precision support by accelerator" table says "16 Mixed" is not for the CPU, and
#   Lightning 2.6.6 turns `Trainer(precision="16-mixed")` on the CPU into "bf16-mixed" with a
#   warning ("AMP with fp16 is not supported on CPU"); treadle runs the fp16 autocast asked for
#   with a CPU gradient scaler (docs/precision.md, docs/migration.md 3). The rest of the
#   precision pages is doc_precision.py, which passes.
import warnings

from lightning.pytorch import Trainer

# 16-bit mixed precision: the table says No on the CPU; Lightning uses bf16-mixed instead
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    trainer = Trainer(precision="16-mixed")
assert trainer.precision == "bf16-mixed", trainer.precision
assert any("fp16 is not supported on CPU" in str(w.message) for w in caught), [str(w.message) for w in caught]
print("precision table: ok")
