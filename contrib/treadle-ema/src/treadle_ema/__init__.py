"""treadle-ema: an exponential moving average of the weights for treadle.

    import treadle
    from treadle_ema import EMA

    trainer = treadle.Trainer(max_epochs=10, callbacks=[EMA(decay=0.999)])

Installing the distribution changes no run: its entry point (``ema`` in group ``treadle``,
module :mod:`treadle_ema.plugin`) adds an ``EMA`` only when ``TREADLE_EMA_DECAY`` is set.
"""

from treadle_ema.callback import CHECKPOINT_KEY, EMA

__version__ = "0.1.0"
__all__ = ["CHECKPOINT_KEY", "EMA"]
