"""ModelSummary (the callback) and its table.

Ported from Lightning's ``tests/tests_pytorch/callbacks/test_model_summary.py`` and
``tests/tests_pytorch/utilities/test_model_summary.py`` (Apache-2.0, Copyright The Lightning AI
team), translated to treadle's names (``Summary``/``summarize`` live in
``treadle_plugins.callbacks.model_summary``; ``LightningModule`` is ``treadle.Module``).
The default ``ModelSummary`` comes from that module's ``configure_callbacks``, an entry point;
until the package is reinstalled with it, these tests register the module with
``plugins=[model_summary]`` (``unless_installed``). Tests marked "treadle" at the end are our own.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import torch
from boring_model import BoringModel, quiet, unless_installed
from torch import nn

import treadle
from treadle.callbacks import ModelSummary
from treadle_plugins.callbacks import model_summary
from treadle_plugins.callbacks.model_summary import UNKNOWN_SIZE, Summary, summarize


@pytest.fixture(autouse=True)
def plain_default_bar(monkeypatch):
    """The plain table: with rich installed and rich's default bar the default summary is a
    ``RichModelSummary``, as Lightning's (test_rich_model_summary.py)."""
    monkeypatch.setenv("TREADLE_PROGRESS_BAR", "plain")


def make_trainer(tmp_path, **kwargs):
    args = quiet(tmp_path, plugins=unless_installed(model_summary))
    del args["enable_model_summary"]
    return treadle.Trainer(**{**args, **kwargs})


def test_model_summary_callback_present_trainer(tmp_path):
    trainer = make_trainer(tmp_path)
    assert any(isinstance(cb, ModelSummary) for cb in trainer.callbacks)
    trainer = make_trainer(tmp_path, callbacks=ModelSummary())
    assert sum(isinstance(cb, ModelSummary) for cb in trainer.callbacks) == 1


def test_model_summary_callback_with_enable_model_summary_false(tmp_path, capsys):
    trainer = make_trainer(tmp_path, enable_model_summary=False, max_steps=1)
    assert not any(isinstance(cb, ModelSummary) for cb in trainer.callbacks)
    trainer.fit(BoringModel())
    assert "Trainable params" not in capsys.readouterr().out


def test_model_summary_callback_with_enable_model_summary_true(tmp_path, capsys):
    trainer = make_trainer(tmp_path, enable_model_summary=True, max_steps=1)
    assert any(isinstance(cb, ModelSummary) for cb in trainer.callbacks)
    # max_depth is 1 when enable_model_summary is True and no ModelSummary was passed
    model_summary_callback = [cb for cb in trainer.callbacks if isinstance(cb, ModelSummary)][0]
    assert model_summary_callback._max_depth == 1
    trainer.fit(BoringModel())
    assert "66        Total params" in capsys.readouterr().out


def test_custom_model_summary_callback_summarize(tmp_path):
    seen = []

    class CustomModelSummary(ModelSummary):
        @staticmethod
        def summarize(
            summary_data,
            total_parameters,
            trainable_parameters,
            model_size,
            total_training_modes,
            **summarize_kwargs: Any,
        ) -> None:
            assert summary_data[1][0] == "Name"
            assert summary_data[1][1][0] == "layer"
            assert summary_data[2][0] == "Type"
            assert summary_data[2][1][0] == "Linear"
            assert summary_data[3][0] == "Params"
            assert total_parameters == 66
            assert trainable_parameters == 66
            assert summary_data[4][0] == "Mode"
            assert summary_data[4][1][0] == "train"
            assert total_training_modes == {"train": 1, "eval": 0}
            seen.append(summarize_kwargs)

    trainer = treadle.Trainer(**quiet(tmp_path, callbacks=CustomModelSummary(extra=1), max_steps=1))
    trainer.fit(BoringModel())
    assert seen == [{"total_flops": 0, "extra": 1}]  # Lightning 2.6 passes total_flops by name


class EmptyModule(treadle.Module):
    """A module that has no layers."""

    def __init__(self):
        super().__init__()
        self.parameter = torch.rand(3, 3, requires_grad=True)
        self.example_input_array = torch.zeros(1, 2, 3, 4, 5)

    def forward(self, *args, **kwargs):
        return {"loss": self.parameter.sum()}


class PreCalculatedModel(BoringModel):
    """A model with 250K parameters: 1.0 MB in fp32."""

    def __init__(self, precision: int = 32):
        super().__init__()
        self.layer = nn.Linear(32, 1000, bias=False)
        self.layer1 = nn.Linear(1000, 218, bias=False)
        self.pre_calculated_model_size = 1.0 / (32 / precision)

    def forward(self, x):
        return self.layer1(self.layer(x))


class UnorderedModel(treadle.Module):
    """A model in which the layers are not defined in order of execution."""

    def __init__(self):
        super().__init__()
        self.layer2 = nn.Linear(10, 2)
        self.combine = nn.Linear(7, 9)
        self.layer1 = nn.Linear(3, 5)
        self.relu = nn.ReLU()
        self.unused = nn.Conv2d(1, 1, 1)  # unused: unknown shapes
        self.example_input_array = (torch.rand(2, 3), torch.rand(2, 10))

    def forward(self, x, y):
        out = self.relu(torch.cat((self.layer1(x), self.layer2(y)), 1))
        return self.combine(out)


class MixedDtypeModel(treadle.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 20)
        self.reduce = nn.Linear(20, 1)
        self.example_input_array = torch.tensor([[0, 2, 1], [3, 5, 3]])

    def forward(self, x):
        return self.reduce(self.embed(x))


class DeepNestedModel(treadle.Module):
    def __init__(self):
        super().__init__()
        self.branch1 = nn.Sequential(
            nn.Linear(5, 5),
            nn.Sequential(
                nn.Linear(5, 5),
                nn.Sequential(
                    nn.Linear(5, 5),
                    nn.Sequential(
                        nn.Linear(5, 5),
                        nn.Sequential(nn.Linear(5, 5), nn.Sequential(nn.Linear(5, 3))),
                    ),
                ),
            ),
        )
        self.branch2 = nn.Linear(5, 10)
        self.head = UnorderedModel()
        self.example_input_array = torch.rand(2, 5)

    def forward(self, inp):
        return self.head(self.branch1(inp), self.branch2(inp))


@pytest.mark.parametrize("max_depth", [-1, 1])
def test_empty_model_summary_shapes(max_depth):
    summary = summarize(EmptyModule(), max_depth=max_depth)
    assert summary.in_sizes == []
    assert summary.out_sizes == []
    assert summary.param_nums == []


@pytest.mark.parametrize("max_depth", [-1, 1])
def test_linear_model_summary_shapes(max_depth):
    model = UnorderedModel()
    model.train()
    summary = summarize(model, max_depth=max_depth)
    assert summary.in_sizes == [[2, 10], [2, 7], [2, 3], [2, 7], UNKNOWN_SIZE]
    assert summary.out_sizes == [[2, 2], [2, 9], [2, 5], [2, 7], UNKNOWN_SIZE]
    assert model.training


def test_mixed_dtype_model_summary():
    summary = summarize(MixedDtypeModel())
    assert summary.in_sizes == [[2, 3], [2, 3, 20]]
    assert summary.out_sizes == [[2, 3, 20], [2, 3, 1]]


@pytest.mark.parametrize("max_depth", [-1, 1])
def test_summary_parameter_count(max_depth):
    model = UnorderedModel()
    summary = summarize(model, max_depth=max_depth)
    assert summary.param_nums == [
        model.layer2.weight.numel() + model.layer2.bias.numel(),
        model.combine.weight.numel() + model.combine.bias.numel(),
        model.layer1.weight.numel() + model.layer1.bias.numel(),
        0,  # ReLU
        model.unused.weight.numel() + model.unused.bias.numel(),
    ]


@pytest.mark.parametrize("max_depth", [-1, 1])
def test_summary_layer_types(max_depth):
    summary = summarize(UnorderedModel(), max_depth=max_depth)
    assert summary.layer_types == ["Linear", "Linear", "Linear", "ReLU", "Conv2d"]


@pytest.mark.parametrize("max_depth", [-1, 1])
@pytest.mark.parametrize(
    ("example_input", "expected_size"),
    [
        ([], UNKNOWN_SIZE),
        ((1, 2, 3), [UNKNOWN_SIZE] * 3),
        (torch.tensor(0), UNKNOWN_SIZE),
        (torch.zeros(2, 3, 4), [2, 3, 4]),
        ([torch.zeros(2, 3), torch.zeros(4, 5)], [[2, 3], [4, 5]]),
        ((torch.zeros(2, 3), torch.zeros(4, 5)), [[2, 3], [4, 5]]),
    ],
)
def test_example_input_array_types(example_input, expected_size, max_depth):
    class DummyModule(nn.Module):
        def forward(self, *args, **kwargs):
            return None

    class DummyTreadleModule(treadle.Module):
        def __init__(self):
            super().__init__()
            self.layer = DummyModule()

        def forward(self, *args, **kwargs):
            return self.layer(*args, **kwargs)

    model = DummyTreadleModule()
    model.example_input_array = example_input
    assert summarize(model, max_depth=max_depth).in_sizes == [expected_size]


@pytest.mark.parametrize("max_depth", [-1, 1])
def test_model_size(max_depth):
    model = PreCalculatedModel()
    assert model.pre_calculated_model_size == summarize(model, max_depth=max_depth).model_size


@pytest.mark.parametrize("max_depth", [-1, 1])
def test_empty_model_size(max_depth):
    assert summarize(EmptyModule(), max_depth=max_depth).model_size == 0.0


def test_lazy_model_summary():
    class LazyModel(treadle.Module):
        def __init__(self):
            super().__init__()
            self.layer1 = nn.LazyLinear(5)
            self.layer2 = nn.LazyLinear(2)

    summary = Summary(LazyModel())
    message = re.escape(
        "The total number of parameters detected may be inaccurate because the "
        "model contains an instance of `UninitializedParameter`."
    )
    with pytest.warns(UserWarning, match=message):
        total = summary.total_parameters
    with pytest.warns(UserWarning, match=message):
        trainable = summary.trainable_parameters
    assert total == trainable == 0


@pytest.mark.parametrize("max_depth", [-1, 0, 1, 3, 999])
def test_max_depth_param(max_depth):
    summary = Summary(DeepNestedModel(), max_depth=max_depth)
    for lname in summary.layer_names:
        if max_depth >= 0:
            assert lname.count(".") < max_depth
    if max_depth == 0:
        assert summary.layer_names == []


@pytest.mark.parametrize("max_depth", [-99, -2, "invalid"])
def test_raise_invalid_max_depth_value(max_depth):
    with pytest.raises(
        ValueError, match=re.escape(f"`max_depth` can be -1, 0 or > 0, got {max_depth}.")
    ):
        summarize(DeepNestedModel(), max_depth=max_depth)


@pytest.mark.parametrize("example_input", [None, torch.randn(4, 32)])
def test_summary_data_output(example_input):
    """Every entry of the summary data is a string."""

    class TestModel(BoringModel):
        @property
        def example_input_array(self) -> Any:
            return example_input

    for _, entries in summarize(TestModel())._get_summary_data():
        assert all(isinstance(entry, str) for entry in entries)


# -- treadle ----------------------------------------------------------------------------------


def test_table_printed_at_fit_start(tmp_path, capsys):
    """The default callback prints Lightning's table once, before the first training step."""
    printed_before_training = []

    class Probe(BoringModel):
        def on_train_start(self):
            printed_before_training.append(capsys.readouterr().out)

    make_trainer(tmp_path, max_steps=2).fit(Probe())
    assert printed_before_training == [
        "  | Name  | Type   | Params | Mode  | FLOPs\n"
        "-------------------------------------------------\n"
        "0 | layer | Linear | 66     | train | 0    \n"
        "-------------------------------------------------\n"
        "66        Trainable params\n"
        "0         Non-trainable params\n"
        "66        Total params\n"
        "0.000     Total estimated model params size (MB)\n"
        "1         Modules in train mode\n"
        "0         Modules in eval mode\n"
        "0         Total Flops\n"
    ]
    assert capsys.readouterr().out == ""  # printed once


def test_frozen_eval_layers_sizes_and_leftover_params(tmp_path, capsys):
    class Frozen(BoringModel):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(3))  # belongs to no layer: "other params"
            self.norm = nn.BatchNorm1d(2)
            self.example_input_array = torch.zeros(4, 32)
            for p in self.layer.parameters():
                p.requires_grad_(False)
            self.norm.eval()

        def forward(self, x):
            return self.norm(self.layer(x))

    trainer = make_trainer(tmp_path, max_steps=1, precision="64-true", accelerator="cpu")
    trainer.fit(Frozen())
    out = capsys.readouterr().out
    assert out.splitlines()[:5] == [
        "  | Name         | Type        | Params | Mode  | FLOPs | In sizes | Out sizes",
        "------------------------------------------------------------------------------------",
        "0 | layer        | Linear      | 66     | train | 512   | [4, 32]  | [4, 2]   ",
        "1 | norm         | BatchNorm1d | 4      | eval  | 0     | [4, 2]   | [4, 2]   ",
        "  | other params | n/a         | 3      | n/a   | n/a   | n/a      | n/a      ",
    ]
    assert (
        "7         Trainable params\n66        Non-trainable params\n73        Total params\n"
        "0.001     Total estimated model params size (MB)\n1         Modules in train mode\n"
        "1         Modules in eval mode\n512       Total Flops" in out
    )


def test_max_depth_zero_prints_nothing(tmp_path, capsys):
    trainer = treadle.Trainer(**quiet(tmp_path, callbacks=[ModelSummary(max_depth=0)], max_steps=1))
    trainer.fit(BoringModel())
    assert capsys.readouterr().out == ""


def test_callback_max_depth_is_checked():
    with pytest.raises(
        ValueError,
        match=re.escape(
            "ModelSummary(max_depth=-2): `max_depth` can be -1 (every module), 0 (no summary) or "
            "a positive depth."
        ),
    ):
        ModelSummary(max_depth=-2)


def test_enable_model_summary_is_validated():
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "`Trainer(enable_model_summary='yes please')`: Input should be a valid boolean"
        ),
    ):
        treadle.Trainer(enable_model_summary="yes please")


# -- Lightning 2.6's FLOPs and its utilities.model_summary path ------------------------------


class LitModel(treadle.Module):
    # the example of Lightning 2.6.6's `utilities.model_summary.ModelSummary` docstring
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(256, 512), nn.BatchNorm1d(512))
        self.example_input_array = torch.zeros(10, 256)

    def forward(self, x):
        return self.net(x)


def test_flops_of_the_example_input_as_lightning_counts_them():
    # the tables printed by Lightning 2.6.6's docstring (its doctest)
    summary = summarize(LitModel(), max_depth=-1)
    assert summary.total_flops == 2 * 10 * 256 * 512
    assert str(summary).splitlines() == [
        "  | Name  | Type        | Params | Mode  | FLOPs | In sizes  | Out sizes",
        "------------------------------------------------------------------------------",
        "0 | net   | Sequential  | 132 K  | train | 2.6 M | [10, 256] | [10, 512]",
        "1 | net.0 | Linear      | 131 K  | train | 2.6 M | [10, 256] | [10, 512]",
        "2 | net.1 | BatchNorm1d | 1.0 K  | train | 0     | [10, 512] | [10, 512]",
        "------------------------------------------------------------------------------",
        "132 K     Trainable params",
        "0         Non-trainable params",
        "132 K     Total params",
        "0.530     Total estimated model params size (MB)",
        "3         Modules in train mode",
        "0         Modules in eval mode",
        "2.6 M     Total Flops",
    ]
    assert summarize(BoringModel()).total_flops == 0  # no example input: nothing run


def test_a_summarize_override_written_for_lightning_2_6_gets_total_flops(tmp_path):
    seen = []

    class CustomModelSummary(ModelSummary):
        @staticmethod
        def summarize(summary_data, total_parameters, trainable_parameters, model_size,
                      total_training_modes, total_flops, **summarize_kwargs):  # fmt: skip
            seen.append(total_flops)

    model = LitModel()
    model.training_step = lambda batch, batch_idx: model(batch).sum()
    model.configure_optimizers = lambda: torch.optim.SGD(model.parameters(), lr=0.1)
    loader = torch.utils.data.DataLoader(torch.randn(8, 256), batch_size=4)
    trainer = treadle.Trainer(**quiet(tmp_path, callbacks=CustomModelSummary(), max_steps=1))
    trainer.fit(model, loader)
    assert seen == [2 * 10 * 256 * 512]


def test_scripted_layers_get_unknown_sizes_with_an_example_input():
    # Lightning's test_summary_with_scripted_modules: torch refuses hooks on a ScriptModule
    class PartialScriptModel(treadle.Module):
        def __init__(self):
            super().__init__()
            self.layer1 = torch.jit.script(nn.Linear(5, 3))
            self.layer2 = nn.Linear(3, 2)
            self.example_input_array = torch.rand(2, 5)

        def forward(self, x):
            return self.layer2(self.layer1(x))

    summary = summarize(PartialScriptModel(), max_depth=-1)
    assert summary.layer_types == ["RecursiveScriptModule", "Linear"]
    assert summary.in_sizes == [UNKNOWN_SIZE, [2, 3]]
    assert summary.out_sizes == [UNKNOWN_SIZE, [2, 2]]


def test_lightning_utilities_model_summary_path():
    # Lightning's `utilities.model_summary` names: ModelSummary is the summary, not the callback
    from treadle.utilities.model_summary import LayerSummary, get_formatted_model_size
    from treadle.utilities.model_summary import ModelSummary as SummaryClass
    from treadle.utilities.model_summary.model_summary import summarize as summarize_fn

    assert SummaryClass is Summary and summarize_fn is summarize
    assert get_formatted_model_size(0.5301) == "0.530"
    # LayerSummary's docstring example in Lightning 2.6.6
    conv = nn.Conv2d(3, 8, 3)
    layer = LayerSummary(conv)
    assert (layer.num_parameters, layer.layer_type, layer.in_size) == (224, "Conv2d", "?")
    conv(torch.rand(1, 3, 5, 5))
    assert (layer.in_size, layer.out_size) == ([1, 3, 5, 5], [1, 8, 3, 3])
    assert not conv._forward_hooks  # the hook removed itself after the first call
