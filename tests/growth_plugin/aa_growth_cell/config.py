import attrs

from aa_core.plugin import in_range, positive


@attrs.define
class GrowthConfig:
    """``channels`` C; growth bell centred at ``mu`` with width ``sigma``; step size ``dt``."""

    channels: int = attrs.field(default=4, validator=positive)
    mu: float = attrs.field(default=0.15, validator=in_range(0.0, 1.0))
    sigma: float = attrs.field(default=0.03, validator=positive)
    dt: float = attrs.field(default=0.1, validator=positive)
