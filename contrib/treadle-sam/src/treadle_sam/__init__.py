"""treadle-sam: sharpness-aware minimization for treadle (docs/sam.md).

import treadle
from treadle_sam import SAM

trainer = treadle.Trainer(max_epochs=10, plugins=[SAM(rho=0.05)])
"""

from treadle_sam.plugin import SAM

__version__ = "0.1.0"
__all__ = ["SAM"]
