"""VideomatteHQ for Nuke: pure logic in `logic`, the `nuke`-touching layer in `nuke_ops`."""

from .nuke_ops import cancel, export_farm, run

__all__ = ["cancel", "export_farm", "run"]
