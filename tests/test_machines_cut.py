"""Cutting task networks (Harell et al., model splitting): front + back is the whole network, at
any cut and image size, for the CPU task model and torchvision's segmentation models; cuts that
a skip connection crosses and unknown nodes are refused; mid-models match torchvision's
feature extractor."""

from __future__ import annotations

import pytest
import torch
from torchvision.models.feature_extraction import create_feature_extractor

import hmcodec.machines  # noqa: F401  (registers the heads)
from hmcodec.errors import ConfigError
from hmcodec.machines.cut import OUTPUT, Back, Front, TracedNetwork, node_names, probe
from hmcodec.tasks import build_task


def _head(name: str, **kwargs):
    torch.manual_seed(0)
    head = build_task({"name": name, "num_classes": 6, **kwargs})
    return head.eval()


@pytest.mark.parametrize("cut", ["stem", "layer1", "layer2", "layer3", "layer4"])
@pytest.mark.parametrize("size", [(64, 64), (37, 53)])
def test_front_and_back_make_the_whole_network(cut, size):
    head = _head("segmentation-resnet-tiny", width=8)
    traced = TracedNetwork.trace(head.network)
    front, back = Front(traced.segment(None, cut)), Back(traced.segment(cut, OUTPUT))
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        torch.testing.assert_close(back(front(x), x), head.network(x), rtol=0, atol=0)


def test_probe_gives_channels_and_stride():
    traced = TracedNetwork.trace(_head("segmentation-resnet-tiny", width=8).network)
    strides = {cut: probe(Front(traced.segment(None, cut))) for cut in ("stem", "layer1", "layer4")}
    assert strides == {"stem": (8, 1), "layer1": (12, 2), "layer4": (16, 4)}


@pytest.mark.parametrize(
    ("name", "cut", "channels", "stride"),
    [
        ("segmentation-lraspp-mobilenet", "backbone.4", 40, 8),
        ("segmentation-deeplabv3-mobilenet", "backbone.4", 40, 8),
    ],
)
def test_torchvision_models_split_exactly(name, cut, channels, stride):
    head = _head(name)
    traced = TracedNetwork.trace(head.network)
    front = Front(traced.segment(None, cut), head.normalize)
    back = Back(traced.segment(cut, OUTPUT))
    assert probe(front) == (channels, stride)
    x = torch.rand(1, 3, 45, 61)  # odd: the back upsamples to the size it is told
    with torch.no_grad():
        expected = head.network(head.normalize(x))
        out = back(front(x), x)
    assert set(out) == set(expected)
    for key in expected:
        torch.testing.assert_close(out[key], expected[key], rtol=0, atol=0)
        assert out[key].shape[-2:] == (45, 61)


def test_a_cut_crossed_by_a_skip_connection_is_refused():
    traced = TracedNetwork.trace(_head("segmentation-lraspp-mobilenet").network)
    with pytest.raises(ConfigError, match="reads backbone.4.*skip connection"):
        traced.segment("backbone.6", OUTPUT)  # LRASPP's head also reads backbone.4


def test_unknown_nodes_and_backwards_segments_are_refused():
    traced = TracedNetwork.trace(_head("segmentation-resnet-tiny", width=8).network)
    with pytest.raises(ConfigError, match="no node 'layer9'"):
        traced.segment(None, "layer9")
    with pytest.raises(ConfigError, match="does not depend"):
        traced.segment("layer3", "layer1")


def test_mid_model_matches_torchvisions_feature_extractor():
    head = _head("segmentation-resnet-tiny", width=8)
    traced = TracedNetwork.trace(head.network)
    extractor = create_feature_extractor(head.network, ["layer2", "layer4"])
    x = torch.rand(2, 3, 32, 40)
    with torch.no_grad():
        reference = extractor(x)
        mid = traced.segment("layer2", "layer4")(reference["layer2"], x)
    torch.testing.assert_close(mid, reference["layer4"], rtol=0, atol=0)
    assert "layer2.relu_1" in node_names(head.network)


def test_tracing_keeps_every_modules_own_mode():
    head = _head("segmentation-resnet-tiny", width=8)
    head.network.layer1.train()
    traced = TracedNetwork.trace(head.network)
    probe(Front(traced.segment(None, "layer2")))
    assert head.network.layer1.training and not head.network.layer2.training
