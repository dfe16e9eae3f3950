"""treadle-slurm: the ``slurm`` environment plugin for treadle (see README.md)."""

from treadle_slurm.environment import SLURMEnvironment, expand_hostlist

__all__ = ["SLURMEnvironment", "expand_hostlist"]
__version__ = "0.1.0"
