"""Lenia-like cell: potential u[c] = Σ_k w[k, c]·s[k, c], update dt·(2·exp(−(u−μ)²/2σ²) − 1)."""
import torch
from torch import nn

from aa_core.plugin import per_neighbour_kernel, stencil_conv


class GrowthCell(nn.Module):
    def __init__(self, config, k: int):
        super().__init__()
        self.channels, self.dt = config.channels, config.dt
        self.weight = nn.Parameter(torch.full((k, config.channels), 1.0 / k))  # [K, C]
        self.mu = nn.Parameter(torch.full((config.channels,), config.mu))
        self.log_sigma = nn.Parameter(torch.full((config.channels,), config.sigma).log())

    def growth(self, u: torch.Tensor) -> torch.Tensor:
        return self.dt * (2 * torch.exp(-((u - self.mu) ** 2) / (2 * self.log_sigma.exp() ** 2)) - 1)

    def forward(self, neighbourhood: torch.Tensor) -> torch.Tensor:  # [B, N, K, C] -> [B, N, C]
        return self.growth((neighbourhood * self.weight).sum(2))

    def lattice_forward(self, grid: torch.Tensor, geometry) -> torch.Tensor:  # [B, X, Y, Z, C]
        kernel = per_neighbour_kernel(self.weight, geometry)  # [C, 1, 3, 3, 3]
        return self.growth(stencil_conv(grid, kernel, None, geometry, groups=self.channels))

    def post_update(self, grid: torch.Tensor) -> torch.Tensor:
        return grid.clamp(0.0, 1.0)


def build(config, ctx):
    return GrowthCell(config, ctx.geometry.k)
