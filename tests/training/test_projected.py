"""The projected discriminator (training only), with a small random stand-in for EfficientNet-Lite1."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from training.projected import ProjectedDiscriminator

pytestmark = pytest.mark.training

CHANNELS = (8, 12, 16, 20)


class StandIn(nn.Module):
    """Four maps at strides 4, 8, 16 and 32, like Lite1's stages."""

    channels = CHANNELS

    def __init__(self) -> None:
        super().__init__()
        chans = (3, *CHANNELS)
        self.convs = nn.ModuleList(
            nn.Conv2d(chans[i], chans[i + 1], 3, stride=4 if i == 0 else 2, padding=1) for i in range(4)
        )
        self.requires_grad_(False)

    def forward(self, x):
        out = []
        for conv in self.convs:
            x = torch.tanh(conv(x))
            out.append(x)
        return out


def make_d(seed: int = 0, aux: bool = False) -> ProjectedDiscriminator:
    torch.manual_seed(seed)
    return ProjectedDiscriminator(
        num_classes=9, feature_size=64, features=StandIn(), mix_channels=(8, 16, 24, 32), aux_classifier=aux
    )


def test_scores_every_position_of_every_scale_and_only_the_heads_train():
    d = make_d()
    x = torch.rand(3, 4, 32, 32) * 2 - 1
    out = d(x, torch.tensor([0, 4, 8]))
    # 64 px features: 16, 8, 4 and 2 px maps; heads bring them to at most 4x4 -> 16 + 16 + 16 + 4 logits
    assert out.shape == (3, 52)
    trainable = {id(p) for p in d.trained_parts().parameters()}
    assert trainable == {id(p) for p in d.heads.parameters()}
    assert not any(p.requires_grad for p in d.features.parameters())
    assert not any(p.requires_grad for m in (d.ccm, d.csm, d.smooth) for p in m.parameters())


def test_generator_gets_gradients_through_the_frozen_features():
    d = make_d()
    x = (torch.rand(2, 4, 32, 32) * 2 - 1).requires_grad_(True)
    d(x, torch.tensor([1, 2])).mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert x.grad[:, 3].abs().sum() > 0  # alpha matters: it decides how much background shows


def test_the_class_changes_the_score():
    d = make_d()
    with torch.no_grad():  # spectral norm needs a few updates of its power iteration to be non-trivial
        for p in d.heads.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    x = torch.rand(1, 4, 32, 32) * 2 - 1
    torch.manual_seed(1)
    a = d(x, torch.tensor([0]))
    torch.manual_seed(1)  # same background colour
    b = d(x, torch.tensor([5]))
    assert not torch.allclose(a, b)


def test_background_shows_through_transparent_pixels_only():
    d = make_d()
    x = -torch.ones(2, 4, 32, 32)  # fully transparent
    x[1, :, 8:24, 8:24] = 1.0  # an opaque white square
    torch.manual_seed(3)
    rgb = d.to_rgb(x) * d.std + d.mean
    bg = rgb[:, :, 0, 0]
    assert torch.allclose(rgb[0], bg[0].view(3, 1, 1).expand(3, 64, 64), atol=1e-5)  # all background
    assert torch.allclose(rgb[1, :, 24:40, 24:40], torch.ones(3, 16, 16), atol=1e-5)  # the square, at 64 px


def test_checkpoints_hold_the_heads_and_the_fixed_parts_rebuild_from_the_seed():
    d1, d2 = make_d(0), make_d(1)
    state = d1.state_dict()
    assert state and all(not k.startswith(("features", "ccm", "csm", "smooth")) for k in state)
    d2.load_state_dict(state)
    d2.features.load_state_dict(d1.features.state_dict())  # the real backbone comes from the wheel
    x = torch.rand(2, 4, 32, 32) * 2 - 1
    torch.manual_seed(4)
    a = d1(x, torch.tensor([0, 1]))
    torch.manual_seed(4)
    b = d2(x, torch.tensor([0, 1]))
    assert torch.allclose(a, b)


def test_features_stay_in_eval_mode():
    from training.projected import Lite1Features

    backbone = nn.Sequential(nn.BatchNorm2d(3))
    feats = Lite1Features(backbone)
    feats.train()
    assert not backbone.training
    d = make_d()
    d.train()
    assert d.heads.training


def test_an_exported_generator_warm_starts_training_with_the_same_function():
    from models.archs.emoji_gan import DEFAULT_CONFIG, EmojiGenerator
    from models.weights import ASSETS_DIR
    from training.train_gan import exported_generator_state

    path = ASSETS_DIR / "emoji-gan.safetensors"
    g = EmojiGenerator(**DEFAULT_CONFIG).eval()
    g.load_state_dict(exported_generator_state(path))  # strict: every GAN weight, no upsampler
    import json

    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        shipped = EmojiGenerator(**json.loads(f.metadata()["config"])).eval()
    from safetensors.torch import load_file

    shipped.load_state_dict(load_file(str(path)))
    z, c = torch.randn(4, 64), torch.eye(9)[:4]
    with torch.no_grad():
        assert torch.equal(g(z, c), shipped(z, c))


def test_a_class_head_joins_a_running_projected_discriminator_without_changing_its_scores():
    from training.train_gan import _names, remap_optimizer, warm_start

    plain = make_d(0)
    opt_plain = torch.optim.Adam(plain.trained_parts().parameters())
    x = torch.rand(2, 4, 32, 32) * 2 - 1
    plain(x, torch.tensor([0, 1])).mean().backward()
    opt_plain.step()
    grown = make_d(1, aux=True)
    grown.features.load_state_dict(plain.features.state_dict())
    warm_start(grown, plain.state_dict(), new_parts=("classifier.",))
    opt = torch.optim.Adam(grown.trained_parts().parameters())
    remap_optimizer(opt_plain.state_dict(), _names(plain), opt, _names(grown))
    torch.manual_seed(5)
    a = plain(x, torch.tensor([0, 1]))
    torch.manual_seed(5)
    b, logits = grown(x, torch.tensor([0, 1]), with_logits=True)
    assert torch.allclose(a, b)
    assert torch.equal(logits, torch.zeros(2, 9))  # zero head: chance
    assert len(opt.state_dict()["state"]) == len(opt_plain.state_dict()["state"])  # Adam moments carried over
    # the class head learns from the frozen features (and only it and the heads are trained)
    assert {id(p) for p in grown.classifier.parameters()} <= {id(p) for p in grown.trained_parts().parameters()}
    assert "classifier.weight" in grown.state_dict()


def test_subclasses_join_the_projection_and_the_class_head_names_subclasses():
    torch.manual_seed(0)
    d = ProjectedDiscriminator(
        num_classes=9,
        feature_size=64,
        features=StandIn(),
        mix_channels=(8, 16, 24, 32),
        aux_classifier=True,
        num_subclasses=13,
    )
    with torch.no_grad():
        for p in d.heads.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    x = torch.rand(2, 4, 32, 32) * 2 - 1
    labels = torch.tensor([0, 8])
    torch.manual_seed(1)
    a, logits = d(x, labels, torch.tensor([0, 12]), with_logits=True)
    torch.manual_seed(1)
    b = d(x, labels, torch.tensor([1, 11]))
    assert a.shape == b.shape == (2, 52) and not torch.allclose(a, b)  # same groups, other subgroups
    assert logits.shape == (2, 13)  # the class head tells the subgroups apart
    assert {id(p) for h in d.heads for p in h.sub_embed.parameters()} <= {id(p) for p in d.trained_parts().parameters()}
    with pytest.raises(ValueError, match="sublabels"):
        d(x, labels)


def test_pooled_features_see_the_image_over_white_every_time():
    d = make_d()
    x = -torch.ones(2, 4, 32, 32)  # fully transparent: both are plain white to the features
    x[1, :3] = -1.0  # with black colour under the transparent pixels
    f = d.pooled_features(x)
    assert f.shape == (2, sum(CHANNELS[-2:]))
    assert torch.allclose(f[0], f[1], atol=1e-6) and torch.equal(f, d.pooled_features(x))
    x[1, :, 8:24, 8:24] = torch.tensor([-1.0, -1.0, -1.0, 1.0]).view(4, 1, 1)  # an opaque black square
    assert (d.pooled_features(x)[1] - f[0]).abs().max() > 1e-3
