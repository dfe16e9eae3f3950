"""``Offer``: an entry-point object that offers one precision name.

One entry point per name, so that ``TREADLE_BLOCK_PLUGINS=16-mixed`` removes exactly the
built-in ``16-mixed`` and makes room for a third-party plugin that provides the same name.
"""

from __future__ import annotations

from treadle import Provider, hookimpl


class Offer:
    def __init__(self, record: Provider) -> None:
        self.record = record

    def __repr__(self) -> str:
        return f"<treadle precision provider {self.record.name!r}>"

    @hookimpl
    def provide_precisions(self):
        return [self.record]
