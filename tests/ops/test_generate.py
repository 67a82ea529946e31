"""ops/generate on a tiny random generator: reproducibility, interpolation, variations, animation."""

from __future__ import annotations

import re

import pytest
import torch
from PIL import Image

from core.errors import InvalidInputError
from models.adapters import Generator
from models.registry import Builtin, ModelSpec, Task
from ops import generate as g


class TinyGenerator(Generator):
    """z (N,8) and class mix (N,3) -> 4x4 RGBA through a fixed random linear map."""

    w = torch.randn(8 + 3, 4 * 4 * 4, generator=torch.Generator().manual_seed(0))

    @property
    def z_dim(self) -> int:
        return 8

    def synthesize(self, z, class_vectors, truncation=1.0):
        x = torch.cat([z, class_vectors], 1) @ self.w
        return torch.sigmoid(x).view(-1, 4, 4, 4)


def _tiny(labels: tuple[str, ...] = ("a", "b", "c"), truncation: bool = True) -> TinyGenerator:
    spec = ModelSpec(
        id="tiny",
        task=Task.GENERATE,
        title="Tiny",
        description="d",
        license="MIT",
        source=Builtin(),
        loader="none",
        labels=labels,
        truncation=truncation,
        output_size=4,
    )
    return TinyGenerator(spec, torch.device("cpu"), torch.float32)


@pytest.fixture()
def gen():
    return _tiny()


def test_same_seed_same_pixels_and_seed_offsets(gen):
    a = g.sample(gen, 5, 3, "b")
    b = g.sample(gen, 6, 2, "b")
    assert torch.equal(a[1].rgb, b[0].rgb) and torch.equal(a[2].alpha, b[1].alpha)
    assert not torch.equal(a[0].rgb, a[1].rgb)


def test_latents_are_truncated_and_scaled(gen):
    z = gen.sample_latents(list(range(50)), truncation=0.5)
    assert z.shape == (50, 8) and float(z.abs().max()) <= 1.0 + 1e-6


def test_label_names_are_found_as_people_type_them():
    from ops.generate import label_index

    gen = _tiny(("Smileys & Emotion", "Food & Drink", "Activities", "goldfish", "great white shark", "tiger shark"))
    assert label_index(gen, "Activities") == 2
    assert label_index(gen, "activities ") == 2  # case and spaces
    assert label_index(gen, "activ") == 2  # the one label that contains it
    assert label_index(gen, "GOLDFISH") == 3
    with pytest.raises(InvalidInputError, match="'shark' matches several labels of Tiny: 'great white shark', 'tiger"):
        label_index(gen, "shark")
    with pytest.raises(InvalidInputError, match=re.escape("Tiny has no label 'Activitys'. Did you mean 'Activities'?")):
        label_index(gen, "Activitys")
    with pytest.raises(InvalidInputError, match=r"Tiny has no label 'zebra'\.$"):
        label_index(gen, "zebra")
    many = _tiny(tuple(f"label {i}" for i in range(12)))
    with pytest.raises(InvalidInputError, match="of Tiny: 'label 0', 'label 1', .*'label 7' and 4 more[.]$"):
        label_index(many, "label")
    assert label_index(many, "label 1") == 1  # exact wins over the labels that contain it


def test_labels_by_name_or_index_and_errors(gen):
    assert torch.equal(g.sample(gen, 1, 1, "c")[0].rgb, g.sample(gen, 1, 1, 2)[0].rgb)
    with pytest.raises(InvalidInputError):
        g.sample(gen, 1, 1, "zebra")
    with pytest.raises(InvalidInputError):
        g.sample(gen, 1, 17)
    with pytest.raises(InvalidInputError):
        g.sample(gen, 1, 1, truncation=0)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda gen: g.sample(gen, None, 1), "Seed is empty"),
        (lambda gen: g.sample(gen, 2**64, 1), "Seed must be a whole number from 0 to 4294967295"),
        (lambda gen: g.sample(gen, -1, 1), "Seed must be"),
        (lambda gen: g.sample(gen, 1.5, 1), "Seed must be"),
        (lambda gen: g.sample(gen, 0, None), "Count is empty"),
        (lambda gen: g.sample(gen, 2**32 - 3, 4), "run from 4294967293 to 4294967296, past the largest seed"),
        (lambda gen: g.variations(gen, float("nan"), 2), "Seed must be"),
        (lambda gen: g.interpolate(gen, 0, None), "Second seed is empty"),
        (lambda gen: g.interpolate(gen, 0, 1, frames=1), "Frames must be"),
    ],
)
def test_bad_seeds_and_counts_are_named_in_the_message(gen, call, match):
    with pytest.raises(InvalidInputError, match=match):
        call(gen)
    assert torch.equal(g.sample(gen, 7.0, 1)[0].rgb, g.sample(gen, "7", 1)[0].rgb)  # a float or text seed is fine
    assert len(g.sample(gen, 2**32 - 4, 4)) == 4  # up to the largest seed itself


def test_interpolation_ends_match_the_endpoints(gen):
    frames = g.interpolate(gen, 1, 2, "a", "c", frames=5)
    assert len(frames) == 5
    assert torch.allclose(frames[0].rgb, g.sample(gen, 1, 1, "a")[0].rgb, atol=1e-5)
    assert torch.allclose(frames[-1].rgb, g.sample(gen, 2, 1, "c")[0].rgb, atol=1e-5)


def test_slerp_keeps_norm_between_equal_norm_vectors():
    a, b = torch.tensor([3.0, 0, 0]), torch.tensor([0, 3.0, 0])
    assert abs(float(g.slerp(a, b, 0.5).norm()) - 3.0) < 1e-5


def test_variations_are_close_to_the_seed(gen):
    base = gen.sample_latents([3])[0]
    near = g.variations(gen, 3, 4, "a", strength=0.1)
    far = g.variations(gen, 3, 4, "a", strength=0.9)
    ref = g.sample(gen, 3, 1, "a")[0].rgb
    d_near = sum(float((v.rgb - ref).abs().mean()) for v in near)
    d_far = sum(float((v.rgb - ref).abs().mean()) for v in far)
    assert d_near < d_far and base.shape == (8,)


@pytest.mark.parametrize("suffix", [".webp", ".gif"])
def test_animation_file_has_all_frames(gen, tmp_path, suffix):
    frames = g.interpolate(gen, 1, 2, frames=6)
    path = g.save_animation(frames, tmp_path / f"a{suffix}", boomerang=False)
    with Image.open(path) as im:
        assert im.n_frames == 6
