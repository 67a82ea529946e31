"""BiRefNet_lite: our module's state-dict layout against the upstream model's (listed in tests/data, generated
from the upstream code), and its forward pass on small random inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from models.archs import birefnet

#: Keys and shapes of upstream BiRefNet's state dict in its lite configuration (Swin-T): 586 entries, the keys of
#: the Hub checkpoints ZhengPeng7/BiRefNet_lite and BiRefNet_lite-2K.
LAYOUT = Path(__file__).resolve().parents[1] / "data" / "birefnet_lite_state_dict.json"
PARAMS = 44_313_720
#: Bytes of tensor data in that state dict (float32 but for int64 relative-position indices and batch counters):
#: the Hub's model.safetensors is 177,634,392 bytes, these plus a 68,160-byte header.
DATA_BYTES = 177_566_232


@pytest.fixture(scope="module")
def net() -> birefnet.BiRefNet:
    torch.manual_seed(0)
    return birefnet.BiRefNet().eval()


def test_state_dict_keys_and_shapes_are_upstreams():
    with torch.device("meta"):
        sd = birefnet.BiRefNet().state_dict()
    expected = json.loads(LAYOUT.read_text())
    assert sorted(sd) == sorted(expected)
    assert {k: list(v.shape) for k, v in sd.items()} == expected


def test_parameter_count_and_checkpoint_size():
    with torch.device("meta"):
        net = birefnet.BiRefNet()
    assert sum(p.numel() for p in net.parameters()) == PARAMS
    assert sum(v.numel() * v.element_size() for v in net.state_dict().values()) == DATA_BYTES


def test_forward_gives_one_finite_logit_per_pixel(net):
    torch.manual_seed(1)
    with torch.inference_mode():
        out = net(torch.randn(1, 3, 64, 96))
    assert out.shape == (1, 1, 64, 96)
    assert out.dtype == torch.float32 and bool(torch.isfinite(out).all())


def test_output_follows_the_input_and_batches_do_not_mix(net):
    torch.manual_seed(2)
    x = torch.randn(2, 3, 32, 64)
    with torch.inference_mode():
        both = net(x)
        second = net(x[1:])
    assert torch.allclose(both[1:], second, atol=1e-5)
    assert (both[0] - both[1]).abs().max() > 1e-3


@pytest.mark.parametrize("shape", [(1, 3, 64, 80), (1, 3, 48, 64), (1, 1, 64, 64), (3, 64, 64)])
def test_unsupported_input_shapes_are_refused(net, shape):
    with pytest.raises(ValueError, match="BiRefNet"):
        net(torch.zeros(shape))


@pytest.mark.parametrize("legacy", [False, True])
def test_decoder_input_patches_are_stacked_in_upstreams_order(legacy):
    x = torch.randn(2, 3, 8, 12)
    out = birefnet.image_to_patches(x, (2, 4), legacy=legacy)
    rows, cols = 4, 3
    assert out.shape == (2, 3 * rows * cols, 2, 4)
    for c in range(3):
        for i in range(rows):
            for j in range(cols):
                # einops 'b c (gh h) (gw w) -> b (c gh gw) h w'; before 2024-11 patches went column by column.
                k = (j * rows + i) * 3 + c if legacy else (c * rows + i) * cols + j
                assert torch.equal(out[:, k], x[:, c, 2 * i : 2 * i + 2, 4 * j : 4 * j + 4])


def test_hub_file_loads_from_the_local_hub_cache_and_mattes(hf_home, monkeypatch):
    """The registry's BiRefNet entry, its file (our layout, random weights, as safetensors) in a local Hub cache and
    the spec pinned to its sha256: it loads strictly through the Hub path and its matte is the sigmoid of the
    network's logits on the ImageNet-normalised picture, resized back."""
    from dataclasses import replace

    from safetensors.torch import save_file

    from models import catalog
    from models.integrity import sha256_file
    from models.loaders import load_model

    spec = catalog.get_spec("birefnet-lite-2k.hub")
    src = spec.source
    path = hf_home / ("models--" + src.repo_id.replace("/", "--")) / "snapshots" / src.revision / src.filename
    path.parent.mkdir(parents=True)
    torch.manual_seed(1)
    net = birefnet.build(spec.params).eval()
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path), metadata={"format": "pt"})
    small = {**spec.params, "size": 64, "size_automatic": 96}  # small inputs keep the test quick
    local = replace(spec, params=small, source=replace(src, sha256=sha256_file(path), size=path.stat().st_size))
    monkeypatch.setattr(catalog, "SPECS", [local if s.id == spec.id else s for s in catalog.SPECS])

    model = load_model(local, torch.device("cpu"), torch.float32)
    image = torch.rand(1, 3, 48, 80)
    mean = torch.tensor(small["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(small["std"]).view(1, 3, 1, 1)
    for box, size in ((None, 96), ((0, 0, 80, 48), 64)):
        alpha = model(image, box)
        assert alpha.shape == (1, 1, 48, 80)
        x = torch.nn.functional.interpolate(image, size=(size, size), mode="bilinear", antialias=True)
        with torch.inference_mode():
            want = torch.sigmoid(net((x - mean) / std))
        want = torch.nn.functional.interpolate(want, size=(48, 80), mode="bilinear", antialias=True)
        torch.testing.assert_close(alpha, want, atol=2e-3, rtol=0)
