"""The transforms' fast layers: the ELU with one exp and the channels-last 1×1 convolution give
PyTorch's values and gradients; the transforms hand back contiguous tensors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hmcodec.nn.transforms import (
    ELU,
    PRESETS,
    AnalysisTransform,
    Conv1x1,
    SynthesisTransform,
)


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


@pytest.mark.parametrize("layout", [torch.channels_last, torch.contiguous_format])
def test_conv1x1_matches_conv2d_in_values_and_gradients(layout: torch.memory_format) -> None:
    torch.manual_seed(0)
    ours = Conv1x1(6, 4)
    reference = torch.nn.Conv2d(6, 4, 1)
    reference.load_state_dict(ours.state_dict())  # the same parameters and keys
    x = torch.randn(3, 6, 5, 7, dtype=torch.float64).contiguous(memory_format=layout)
    ours.double(), reference.double()
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    out = ours(x1)
    assert out.shape == (3, 4, 5, 7)
    torch.testing.assert_close(out, reference(x2))
    out.square().sum().backward()
    reference(x2).square().sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad)
    torch.testing.assert_close(ours.weight.grad, reference.weight.grad)
    torch.testing.assert_close(ours.bias.grad, reference.bias.grad)


def test_transforms_return_contiguous_tensors_for_the_exact_entropy_models() -> None:
    torch.manual_seed(0)
    size = PRESETS["tiny"]
    analysis, synthesis = AnalysisTransform(3, 8, size), SynthesisTransform(8, 3, size)
    y = analysis(torch.rand(2, 3, 32, 48))
    assert y.shape == (2, 8, 2, 3) and y.is_contiguous()
    x_hat = synthesis(y)
    assert x_hat.shape == (2, 3, 32, 48) and x_hat.is_contiguous()
