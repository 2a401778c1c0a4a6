"""Scan orders: how a 3D lattice becomes 1D sequences for a (causal) Mamba.

Each order is a list of permutations of the cell ids (cell id = (x·Y + y)·Z + z):
``seq = state[:, perm]`` reads the lattice in that order, ``out = seq[:, inverse(perm)]``
writes it back.

- ``raster``: cell-id order (z fastest) — one causal direction.
- ``bidirectional``: raster and reversed raster (Vim-style; the default).
- ``axes``: raster with each axis as the fastest in turn (z, y, x), each both ways: 6 scans.
- ``hilbert``: a locality-preserving space-filling curve and its reverse, for any sides.

The ``hilbert`` curve is our own product construction for cuboids of any size: a
generalised Hilbert curve (recursive U-splitting of a rectangle, with halves rounded to even
lengths so the pieces join) over the two longest axes, and along the shortest axis a column
traversed up and down alternately (boustrophedon). Consecutive cells in the column are
adjacent; the last cell of one column and the first of the next share that coordinate and
are neighbours in the plane whenever the 2D curve steps between neighbours — which it does at
every step when the plane's sides are even, and at all but a few steps otherwise (a
Hamiltonian corner-to-corner path does not always exist for odd sides; the curve then takes
a diagonal step). Lattices here are flat (e.g. 64×64×8), so the short columns keep every
3D neighbourhood within a few dozen sequence steps.
"""
from __future__ import annotations

import torch

ORDERS = ("raster", "bidirectional", "axes", "hilbert")


def _sign(v: int) -> int:
    return (v > 0) - (v < 0)


def hilbert_2d(w: int, h: int) -> list[tuple[int, int]]:
    """A generalised Hilbert curve visiting every cell of a w×h rectangle once, from (0, 0)."""
    out: list[tuple[int, int]] = []

    def walk(x: int, y: int, ax: int, ay: int, bx: int, by: int) -> None:
        # Fill the rectangle at (x, y) spanned by the major vector a and minor vector b,
        # entering at (x, y) and leaving next to (x, y) + a (the "U" of a Hilbert curve).
        la, lb = abs(ax + ay), abs(bx + by)  # side lengths (each vector is axis-aligned)
        ua, ub = (_sign(ax), _sign(ay)), (_sign(bx), _sign(by))
        if lb == 1 or la == 1:  # a single row or column: walk straight along the longer side
            (n, (dx, dy)) = (la, ua) if lb == 1 else (lb, ub)
            out.extend((x + i * dx, y + i * dy) for i in range(n))
            return
        ax2, ay2, bx2, by2 = ax // 2 if ax >= 0 else -((-ax) // 2), ay // 2 if ay >= 0 else -((-ay) // 2), \
            bx // 2 if bx >= 0 else -((-bx) // 2), by // 2 if by >= 0 else -((-by) // 2)
        la2, lb2 = abs(ax2 + ay2), abs(bx2 + by2)
        if 2 * la > 3 * lb:  # long and thin: two halves side by side along a
            if la2 % 2 and la > 2:  # an even first half lets the pieces join without a diagonal step
                ax2, ay2 = ax2 + ua[0], ay2 + ua[1]
            walk(x, y, ax2, ay2, bx, by)
            walk(x + ax2, y + ay2, ax - ax2, ay - ay2, bx, by)
            return
        if lb2 % 2 and lb > 2:
            bx2, by2 = bx2 + ub[0], by2 + ub[1]
        # up the first half of b (in the first half of a), across the whole of a, back down
        walk(x, y, bx2, by2, ax2, ay2)
        walk(x + bx2, y + by2, ax, ay, bx - bx2, by - by2)
        walk(x + (ax - ua[0]) + (bx2 - ub[0]), y + (ay - ua[1]) + (by2 - ub[1]), -bx2, -by2, -(ax - ax2), -(ay - ay2))

    if w >= h:
        walk(0, 0, w, 0, 0, h)
    else:
        walk(0, 0, 0, h, w, 0)
    return out


def hilbert_order(size: tuple[int, int, int]) -> torch.Tensor:
    """Cell ids of an X×Y×Z lattice along the column-by-Hilbert curve described above."""
    X, Y, Z = size
    dims = sorted(range(3), key=lambda i: -size[i])  # longest first; dims[2] = column axis
    plane = hilbert_2d(size[dims[0]], size[dims[1]])
    col = size[dims[2]]
    ids = []
    for k, (p, q) in enumerate(plane):
        for r in (range(col) if k % 2 == 0 else range(col - 1, -1, -1)):
            c = [0, 0, 0]
            c[dims[0]], c[dims[1]], c[dims[2]] = p, q, r
            ids.append((c[0] * Y + c[1]) * Z + c[2])
    return torch.tensor(ids, dtype=torch.long)


def axis_major(size: tuple[int, int, int], fastest: int) -> torch.Tensor:
    """Raster order with axis ``fastest`` varying fastest (2 = z: the plain cell-id order)."""
    X, Y, Z = size
    ids = torch.arange(X * Y * Z).view(X, Y, Z)
    perm = {2: (0, 1, 2), 1: (2, 0, 1), 0: (1, 2, 0)}[fastest]
    return ids.permute(*perm).reshape(-1)


def scan_orders(order: str, size: tuple[int, int, int]) -> list[torch.Tensor]:
    """The permutations (long ``[N]`` each) a Mamba pass reads the lattice in."""
    n = size[0] * size[1] * size[2]
    raster = torch.arange(n)
    if order == "raster":
        return [raster]
    if order == "bidirectional":
        return [raster, raster.flip(0)]
    if order == "axes":
        out = []
        for fastest in (2, 1, 0):
            p = axis_major(size, fastest)
            out += [p, p.flip(0)]
        return out
    if order == "hilbert":
        p = hilbert_order(size)
        return [p, p.flip(0)]
    raise ValueError(f"unknown scan order {order!r}; choose one of {', '.join(ORDERS)}")


def inverse(perm: torch.Tensor) -> torch.Tensor:
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(len(perm), device=perm.device)
    return inv
