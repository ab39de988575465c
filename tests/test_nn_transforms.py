"""The transforms' ELU: the same function and gradient as PyTorch's, in both precisions."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hmcodec.nn.transforms import ELU


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_elu_matches_torch_values(dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    x = torch.cat([torch.randn(10_000, dtype=dtype) * 4, torch.tensor([0.0, -1e-9, 1e-9, -30.0])])
    ulp = torch.finfo(dtype).eps
    torch.testing.assert_close(ELU()(x.to(dtype)), F.elu(x.to(dtype)), rtol=4 * ulp, atol=ulp)
    assert bool((ELU()(x) >= -1).all()) and bool((ELU()(x)[x > 0] == x[x > 0]).all())


def test_elu_gradient_matches_torch() -> None:
    torch.manual_seed(0)
    x = (torch.randn(4, 3, 5, 5, dtype=torch.float64) * 3).requires_grad_()
    assert torch.autograd.gradcheck(ELU(), (x,))
    (ours,) = torch.autograd.grad(ELU()(x).square().sum(), x)
    (theirs,) = torch.autograd.grad(F.elu(x).square().sum(), x)
    torch.testing.assert_close(ours, theirs)


def test_elu_leaves_its_input_unchanged_and_works_without_grad() -> None:
    x = torch.randn(2, 8, 4, 4)
    before = x.clone()
    with torch.inference_mode():
        y = ELU()(x)
    assert torch.equal(x, before) and y.shape == x.shape
