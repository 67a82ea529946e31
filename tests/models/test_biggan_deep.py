"""BigGAN-deep: Hub key layout, spectral norm and truncation statistics, forward pass, loader."""

from __future__ import annotations

import copy
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from core.errors import InvalidInputError, WeightsIntegrityError
from models.archs.biggan_deep import BigGANDeep, DeepResBlock, SelfAttention, SNLinear, TruncationBatchNorm
from models.catalog import get_spec
from models.generators import BigGanDeepGenerator
from models.integrity import sha256_file
from models.loaders import LOADERS, load_model

REFERENCE = Path(os.environ.get("GANVAS_SHARED", "/work/shared")) / "reference" / "biggan_deep_128_state_dict.json"
SPEC_ID = "biggan-deep-128.hub"
CPU = torch.device("cpu")
TINY = {
    "z_dim": 8,
    "class_embed_dim": 8,
    "channel_width": 2,
    "num_classes": 5,
    "layers": ((False, 16, 16), (True, 16, 8)),
    "attention_layer_position": 1,
    "eps": 1e-4,
    "n_stats": 3,
}


@pytest.fixture(scope="module")
def reference() -> dict:
    if not REFERENCE.is_file():
        pytest.fail(f"reference key list missing: {REFERENCE}")
    return json.loads(REFERENCE.read_text())


@pytest.fixture(scope="module")
def model() -> BigGANDeep:
    torch.manual_seed(0)
    m = BigGANDeep(**get_spec(SPEC_ID).params).eval()
    m.generator.layers[8].gamma.data.fill_(0.5)  # make the attention layer count in the forward test
    return m


@pytest.fixture()
def gen(model) -> BigGanDeepGenerator:
    return BigGanDeepGenerator(get_spec(SPEC_ID), CPU, torch.float32, model)


def test_state_dict_keys_and_shapes_equal_the_hub_file(reference):
    with torch.device("meta"):  # shapes only: no memory, no init time
        meta = BigGANDeep(**get_spec(SPEC_ID).params)
    ours = {k: list(v.shape) for k, v in meta.state_dict().items()}
    theirs = reference["state_dict"]
    assert set(ours) == set(theirs)
    assert {k: v for k, v in ours.items() if v != theirs[k]} == {}
    assert len(ours) == 506


def test_spec_params_and_labels_match_the_reference(reference):
    spec = get_spec(SPEC_ID)
    cfg = dict(spec.params)
    cfg["layers"] = [list(layer) for layer in cfg["layers"]]
    assert cfg == reference["config_biggan_deep_128"]
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    assert spec.labels == tuple(_IMAGENET_CATEGORIES) and len(spec.labels) == 1000
    assert spec.loader in LOADERS and spec.output_size == 128 and spec.truncation


def test_bn_picks_rows_exactly_on_the_grid_and_lerps_between():
    bn = TruncationBatchNorm(3, None, n_stats=5)
    bn.running_means.copy_(torch.arange(15.0).view(5, 3))
    bn.running_vars.copy_(torch.arange(15.0).view(5, 3) + 1)
    for k in range(5):
        mean, var = bn.stats(k / 4)
        assert torch.equal(mean, bn.running_means[k]) and torch.equal(var, bn.running_vars[k])
    for k in range(4):
        mean, var = bn.stats((k + 0.5) / 4)
        assert torch.allclose(mean, (bn.running_means[k] + bn.running_means[k + 1]) / 2)
        assert torch.allclose(var, (bn.running_vars[k] + bn.running_vars[k + 1]) / 2)
    mean, _ = bn.stats(0.3)  # position 1.2: 80 % of row 1, 20 % of row 2
    assert torch.allclose(mean, 0.8 * bn.running_means[1] + 0.2 * bn.running_means[2])
    with pytest.raises(InvalidInputError):
        bn.stats(1.01)


def test_bn_grid_values_survive_float_rounding():
    bn = TruncationBatchNorm(2, None, n_stats=51)
    bn.running_means.copy_(torch.arange(102.0).view(51, 2))
    for k in range(51):
        mean, _ = bn.stats(k * 0.02)
        assert torch.equal(mean, bn.running_means[k]), k


def test_unconditional_bn_applies_affine_formula():
    bn = TruncationBatchNorm(2, None, n_stats=3, eps=1e-4)
    bn.running_means.copy_(torch.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]))
    bn.running_vars.copy_(torch.tensor([[1.0, 1.0], [4.0, 9.0], [1.0, 1.0]]))
    bn.weight.data = torch.tensor([2.0, 3.0])
    bn.bias.data = torch.tensor([0.5, -1.0])
    x = torch.randn(1, 2, 2, 2)
    mean, var = torch.tensor([2.0, 3.0]), torch.tensor([4.0, 9.0])
    expect = (x - mean.view(1, 2, 1, 1)) / torch.sqrt(var.view(1, 2, 1, 1) + 1e-4)
    expect = expect * bn.weight.view(1, 2, 1, 1) + bn.bias.view(1, 2, 1, 1)
    assert torch.allclose(bn(x, 0.5), expect, atol=1e-6)


def test_conditional_bn_gain_is_one_plus_scale():
    torch.manual_seed(1)
    bn = TruncationBatchNorm(3, cond_dim=4, n_stats=2, eps=1e-4)
    bn.running_means.copy_(torch.randn(2, 3))
    bn.running_vars.copy_(torch.rand(2, 3) + 0.5)
    x, cond = torch.randn(2, 3, 2, 2), torch.randn(2, 4)
    w_s = bn.scale.weight_orig / torch.dot(bn.scale.weight_u, bn.scale.weight_orig @ bn.scale.weight_v)
    w_o = bn.offset.weight_orig / torch.dot(bn.offset.weight_u, bn.offset.weight_orig @ bn.offset.weight_v)
    gain, shift = 1 + cond @ w_s.t(), cond @ w_o.t()
    norm = (x - bn.running_means[1].view(1, 3, 1, 1)) / torch.sqrt(bn.running_vars[1].view(1, 3, 1, 1) + 1e-4)
    assert torch.allclose(bn(x, 1.0, cond), norm * gain[:, :, None, None] + shift[:, :, None, None], atol=1e-5)


def test_spectral_norm_divides_by_u_dot_wv_and_keeps_u_v():
    lin = SNLinear(3, 2)
    lin.weight_orig.data = torch.tensor([[1.0, 2.0, 0.0], [0.0, 1.0, -1.0]])
    lin.bias.data = torch.tensor([0.25, -0.5])
    lin.weight_u.copy_(torch.tensor([0.6, 0.8]))
    lin.weight_v.copy_(torch.tensor([1.0, 0.0, 0.0]))
    sigma = 0.6 * 1.0 + 0.8 * 0.0  # u . (W v) with W v = first column = (1, 0)
    x = torch.tensor([[1.0, 1.0, 1.0]])
    expect = x @ (lin.weight_orig / sigma).t() + lin.bias
    u0, v0 = lin.weight_u.clone(), lin.weight_v.clone()
    assert torch.allclose(lin(x), expect)
    assert torch.equal(lin.weight_u, u0) and torch.equal(lin.weight_v, v0)


class _Zero(nn.Module):
    def __init__(self, out_ch: int) -> None:
        super().__init__()
        self.out_ch = out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(x.shape[0], self.out_ch, *x.shape[2:])


def test_deep_block_skip_keeps_first_channels_and_upsamples():
    block = DeepResBlock(8, 4, cond_dim=2, upsample=True, n_stats=3, eps=1e-4)
    block.conv_3 = _Zero(4)  # silence the residual branch: only the skip path remains
    x, cond = torch.randn(2, 8, 3, 3), torch.randn(2, 2)
    out = block(x, cond, 1.0)
    assert out.shape == (2, 4, 6, 6)
    assert torch.equal(out, x[:, :4].repeat_interleave(2, dim=2).repeat_interleave(2, dim=3))


def test_self_attention_matches_pooled_softmax_formula():
    torch.manual_seed(2)
    att = SelfAttention(16)
    x = torch.randn(1, 16, 4, 4)
    assert torch.equal(att(x), x)  # gamma starts at 0
    att.gamma.data.fill_(0.7)
    q = att.snconv1x1_theta(x).reshape(2, 16)
    k = F.max_pool2d(att.snconv1x1_phi(x), 2).reshape(2, 4)
    v = F.max_pool2d(att.snconv1x1_g(x), 2).reshape(8, 4)
    weights_ = torch.softmax(q.t() @ k, dim=1)  # (16 queries, 4 keys)
    mixed = (v @ weights_.t()).reshape(1, 8, 4, 4)
    assert torch.allclose(att(x), x + 0.7 * att.snconv1x1_o_conv(mixed), atol=1e-5)


@pytest.mark.slow  # the full 52.7 M-parameter model (the loader test also writes 211 MB)
def test_random_init_forward_is_rgba_in_unit_range_and_deterministic(gen):
    a = gen.generate([11, 12], [1, 207], truncation=0.5)
    b = gen.generate([12], [207], truncation=0.5)  # same seed and label, another batch: same pixels
    assert a.shape == (2, 4, 128, 128) and a.dtype == torch.float32 and a.device.type == "cpu"
    assert torch.isfinite(a).all() and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a[:, 3], torch.ones(2, 128, 128))
    assert torch.allclose(a[1:], b, atol=1e-5)
    assert not torch.equal(a[0], a[1])
    assert a[:, :3].std() > 1e-3


def test_synthesize_rejects_bad_inputs():
    spec = replace(get_spec(SPEC_ID), params=TINY, labels=tuple("abcde"))
    gen = BigGanDeepGenerator(spec, CPU, torch.float32, BigGANDeep(**TINY).eval())
    assert gen.generate([0, 1], [4, 2]).shape == (2, 4, 8, 8)
    z, c = gen.sample_latents([0]), gen.class_vectors([0])
    with pytest.raises(InvalidInputError):
        gen.synthesize(z, c, truncation=0.0)
    with pytest.raises(InvalidInputError):
        gen.synthesize(z, c, truncation=1.5)
    with pytest.raises(InvalidInputError):
        gen.synthesize(z[:, :5], c)
    with pytest.raises(InvalidInputError):
        gen.synthesize(z, c[:, :3])


def _put_in_cache(hub: Path, spec, state: dict[str, torch.Tensor]) -> Path:
    repo = hub / ("models--" + spec.source.repo_id.replace("/", "--"))
    snap = repo / "snapshots" / spec.source.revision
    snap.mkdir(parents=True)
    path = snap / spec.source.filename
    torch.save(state, path)
    return path


@pytest.mark.slow  # the full 52.7 M-parameter model (the loader test also writes 211 MB)
def test_loader_reads_the_hub_cache_layout_and_verifies_sha(hf_home, monkeypatch, model):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = get_spec(SPEC_ID)
    path = _put_in_cache(hf_home, spec, model.state_dict())
    with pytest.raises(WeightsIntegrityError):  # the real file's sha256 is not this random file's
        load_model(spec, CPU, torch.float32)
    local = replace(spec, source=replace(spec.source, sha256=sha256_file(path)))
    loaded = load_model(local, CPU, torch.float16)
    assert isinstance(loaded, BigGanDeepGenerator)
    assert loaded.dtype == torch.float32  # CPU always runs in float32
    assert not loaded.module.training
    ours = model.state_dict()
    assert all(torch.equal(v, ours[k]) for k, v in loaded.module.state_dict().items())
    got = loaded.generate([5], [42], truncation=0.7)
    assert got.shape == (1, 4, 128, 128) and torch.isfinite(got).all()


def test_loader_rejects_a_file_with_another_layout(hf_home, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = replace(get_spec(SPEC_ID), params=TINY, labels=tuple("abcde"))
    state = BigGANDeep(**TINY).state_dict()
    state.pop("generator.bn.weight")
    path = _put_in_cache(hf_home, spec, state)
    spec = replace(spec, source=replace(spec.source, sha256=sha256_file(path)))
    with pytest.raises(WeightsIntegrityError, match="layout"):
        load_model(spec, CPU, torch.float32)


def test_half_precision_agrees_with_float32():
    spec = replace(get_spec(SPEC_ID), params=TINY, labels=tuple("abcde"))
    torch.manual_seed(3)
    m = BigGANDeep(**TINY).eval()
    m.generator.layers[1].gamma.data.fill_(0.5)
    full = BigGanDeepGenerator(spec, CPU, torch.float32, m).generate([1, 2], [0, 3], truncation=0.4)
    half = BigGanDeepGenerator(spec, CPU, torch.float16, copy.deepcopy(m).half()).generate([1, 2], [0, 3], 0.4)
    assert half.dtype == torch.float32
    assert (full - half).abs().max() < 5e-3
    assert full[:, :3].std() > 1e-2
