"""The CPU Mamba block against transformers' MambaMixer slow path, gradcheck, param formula, CUDA."""
import pytest
import torch
from transformers.models.mamba.configuration_mamba import MambaConfig
from transformers.models.mamba.modeling_mamba import MambaMixer

from aa_mamba.block import MambaBlock, cuda_selective_scan, mamba_param_count
from aa_mamba.scan import LinearScan, linear_scan_nograd


def hf_mixer(d, N=16, d_conv=4, expand=2):
    cfg = MambaConfig(hidden_size=d, state_size=N, conv_kernel=d_conv, expand=expand, num_hidden_layers=1)
    return MambaMixer(cfg, layer_idx=0)


def perturbed(block):
    """Move every parameter off its structured init so that all of them matter."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in block.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
    return block


@pytest.mark.parametrize("L", [7, 40, 160])
def test_matches_transformers_slow_path(L):
    torch.manual_seed(0)
    ours = perturbed(MambaBlock(16, d_state=8, backend="cpu"))
    ref = hf_mixer(16, N=8)
    ref.load_state_dict(ours.state_dict(), strict=True)
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, L, 16)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    y1, y2 = ours(x1), ref(x2)
    assert (y1 - y2).abs().max() < 1e-4
    w = torch.randn_like(y1)
    (y1 * w).sum().backward()
    (y2 * w).sum().backward()
    assert (x1.grad - x2.grad).abs().max() < 1e-4
    p_ref = dict(ref.named_parameters())
    for name, p in ours.named_parameters():
        assert (p.grad - p_ref[name].grad).abs().max() < 1e-4 * max(1.0, p_ref[name].grad.abs().max().item()), name


def test_linear_scan_equals_loop_and_gradcheck():
    torch.manual_seed(0)
    for L in (1, 5, 33, 101):
        a, u = torch.rand(2, L, 3, dtype=torch.float64), torch.randn(2, L, 3, dtype=torch.float64)
        h, ref = linear_scan_nograd(a, u), torch.zeros(2, 3, dtype=torch.float64)
        for t in range(L):
            ref = a[:, t] * ref + u[:, t]
            assert torch.allclose(h[:, t], ref)
    a = torch.rand(1, 40, 2, 2, dtype=torch.float64, requires_grad=True)
    u = torch.randn(1, 40, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(LinearScan.apply, (a, u))


def test_block_gradcheck_float64():
    torch.manual_seed(0)
    block = perturbed(MambaBlock(4, d_state=3, d_conv=3, backend="cpu")).double()
    x = torch.randn(1, 37, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(block, (x,), fast_mode=True)
    names, params = zip(*block.named_parameters())
    assert torch.autograd.gradcheck(lambda *ps: torch.func.functional_call(block, dict(zip(names, ps)), (x.detach(),)), params, fast_mode=True)


@pytest.mark.parametrize("d,N,k,E", [(32, 16, 4, 2), (64, 16, 4, 2), (16, 8, 3, 1), (20, 4, 2, 3)])
def test_param_formula(d, N, k, E):
    block = MambaBlock(d, d_state=N, d_conv=k, expand=E)
    assert sum(p.numel() for p in block.parameters()) == mamba_param_count(d, N, k, E)
    assert sum(p.numel() for p in hf_mixer(d, N, k, E).parameters()) == mamba_param_count(d, N, k, E)
    if (d, N, k, E) == (32, 16, 4, 2):
        assert mamba_param_count(d) == 9920


def test_cuda_backend_matches_cpu():
    if cuda_selective_scan() is None:
        pytest.skip("needs CUDA and mamba-ssm (aa-mamba[cuda])")
    torch.manual_seed(0)
    block = perturbed(MambaBlock(32, backend="cuda")).cuda()
    x = torch.randn(2, 500, 32, device="cuda", requires_grad=True)
    y_cuda = block(x)
    y_cuda.square().sum().backward()
    g_cuda = x.grad.clone()
    x.grad = None
    block.backend = "cpu"
    y_cpu = block(x)
    y_cpu.square().sum().backward()
    assert (y_cuda - y_cpu).abs().max() < 1e-3
    assert (g_cuda - x.grad).abs().max() < 1e-3


def test_fused_selective_scan_gradcheck_across_segments(monkeypatch):
    """The fused scan (several segments, carried state, hand-written backward) in float64."""
    from aa_mamba import scan

    monkeypatch.setattr(scan, "segment_length", lambda B, L, E, N: 7)
    torch.manual_seed(0)
    B, L, E, N = 2, 23, 3, 2
    x = torch.randn(B, L, E, dtype=torch.float64, requires_grad=True)
    dt = (torch.rand(B, L, E, dtype=torch.float64) * 0.5 + 0.05).requires_grad_()
    A = (-torch.rand(E, N, dtype=torch.float64) - 0.2).requires_grad_()
    Bm = torch.randn(B, L, N, dtype=torch.float64, requires_grad=True)
    Cm = torch.randn(B, L, N, dtype=torch.float64, requires_grad=True)
    D = torch.randn(E, dtype=torch.float64, requires_grad=True)
    args = (x, dt, A, Bm, Cm, D)
    assert torch.autograd.gradcheck(scan.SelectiveScanFn.apply, args)
    y1 = scan.SelectiveScanFn.apply(*args)
    y2 = scan.selective_scan_unfused(*args)
    assert torch.allclose(y1, y2)
    g1 = torch.autograd.grad(y1.square().sum(), args)
    g2 = torch.autograd.grad(y2.square().sum(), args)
    for a, b in zip(g1, g2):
        assert torch.allclose(a, b)


def test_cuda_backend_refuses_without_kernel():
    block = MambaBlock(8, backend="cuda")
    if cuda_selective_scan() is not None:
        pytest.skip("mamba-ssm kernel available")
    with pytest.raises(RuntimeError, match="aa-mamba\\[cuda\\]"):
        block(torch.randn(1, 5, 8))
    block.backend = "auto"  # auto falls back to the pure-PyTorch scan
    assert block(torch.randn(1, 5, 8)).shape == (1, 5, 8)


def test_batch_groups_equal_one_batch(monkeypatch):
    """Many short sequences are scanned in batch groups; results and gradients are unchanged."""
    from aa_mamba import scan

    torch.manual_seed(0)
    block = perturbed(MambaBlock(8, d_state=4, backend="cpu"))
    x = torch.randn(9, 50, 8, requires_grad=True)
    y1 = block(x)
    g1 = torch.autograd.grad(y1.square().sum(), x)[0]
    monkeypatch.setattr(scan, "SEGMENT_ELEMENTS", 64 * 16 * 4 * 2)  # groups of 2 sequences
    y2 = block(x)
    g2 = torch.autograd.grad(y2.square().sum(), x)[0]
    assert torch.allclose(y1, y2, atol=1e-6) and torch.allclose(g1, g2, atol=1e-6)
