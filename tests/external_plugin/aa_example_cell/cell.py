import torch
from torch import nn


class ResidualTanh(nn.Module):
    def __init__(self, channels: int, center: int):
        super().__init__()
        self.channels, self.center = channels, center
        self.proj = nn.Linear(2 * channels, channels)

    def forward(self, neighbourhood: torch.Tensor) -> torch.Tensor:  # [B, N, K, C] -> [B, N, C]
        centre = neighbourhood[:, :, self.center]
        return torch.tanh(self.proj(torch.cat([centre, neighbourhood.mean(2)], -1)))


def build(config, ctx):
    return ResidualTanh(config.channels, ctx.geometry.center_index)
