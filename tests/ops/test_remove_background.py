"""The Edit tab's "remove background" step: the subject laid on nothing, a colour, the photo blurred or another
picture, cropped to the subject if asked, and replayed from its recipe. A fake cutter stands in for the model
(the models are tested in tests/models, the matte's finish in test_cutout.py)."""

from __future__ import annotations

import io

import pytest
import torch
from PIL import Image

from core.errors import InvalidInputError
from core.image import ImageData
from ops.cutout import Refine
from ops.edit import Recipe, apply_step, image_to_b64png, remove_background, subject_box

H, W = 40, 60
#: The fake subject: a 20x10 block at (x 30, y 12).
BOX = (30, 12, 20, 10)


def _photo() -> ImageData:
    g = torch.Generator().manual_seed(3)
    return ImageData(torch.rand(1, 3, H, W, generator=g), exif=b"Exif\x00\x00kept")


def _matte() -> torch.Tensor:
    a = torch.zeros(1, 1, H, W)
    x, y, w, h = BOX
    a[..., y : y + h, x : x + w] = 1
    return a


class FakeCutter:
    """Cuts out the fixed block; remembers what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def __call__(self, image: ImageData, box, refine: Refine) -> ImageData:
        self.calls.append((image.size, box, refine))
        return image.with_pixels(image.rgb, _matte()[..., : image.height, : image.width])


def test_transparent_keeps_the_subject_and_the_metadata():
    photo, cutter = _photo(), FakeCutter()
    out = remove_background(photo, cutter, box=[25, 10, 30, 15], grow=2, feather=1.5)
    assert out.size == photo.size and out.exif == photo.exif
    assert torch.equal(out.alpha, _matte()) and torch.equal(out.rgb, photo.rgb)
    assert cutter.calls == [((W, H), (25, 10, 30, 15), Refine(grow=2, feather=1.5))]


def test_a_colour_behind_the_subject_is_opaque_and_exact():
    photo = _photo()
    out = remove_background(photo, FakeCutter(), backdrop="colour", colour=[1.0, 0.0, 0.5])
    assert out.alpha is None
    inside = _matte().bool().expand(1, 3, H, W)
    assert torch.equal(out.rgb[inside], photo.rgb[inside])
    assert torch.equal(out.rgb[:, :, 0, 0], torch.tensor([[1.0, 0.0, 0.5]]))


def test_the_photo_blurred_behind_its_subject():
    photo = _photo()
    out = remove_background(photo, FakeCutter(), backdrop="blur", blur=4)
    outside = ~_matte().bool().expand(1, 3, H, W)
    assert out.alpha is None
    assert float(out.rgb[outside].std()) < 0.5 * float(photo.rgb[outside].std())  # smoothed
    assert abs(float(out.rgb[outside].mean()) - float(photo.rgb[outside].mean())) < 0.05  # same colours


def test_another_picture_is_scaled_to_cover_and_centred():
    # a 20x10 picture: left half red, right half blue; covering 60x40 scales it by 4 (80x40) and crops 10 px a side
    pic = Image.new("RGB", (20, 10), (255, 0, 0))
    pic.paste((0, 0, 255), (10, 0, 20, 10))
    out = remove_background(_photo(), FakeCutter(), backdrop="image", image_png=image_to_b64png(pic))
    assert out.alpha is None and out.size == (W, H)
    assert out.rgb[0, :, 20, 2].tolist() == pytest.approx([1, 0, 0], abs=0.02)
    assert out.rgb[0, :, 5, 57].tolist() == pytest.approx([0, 0, 1], abs=0.02)


def test_crop_to_the_subject():
    out = remove_background(_photo(), FakeCutter(), crop_to_subject=True)
    assert out.size == BOX[2:] and bool((out.alpha == 1).all())
    assert subject_box(out) == (0, 0, *BOX[2:])
    empty = _photo().with_pixels(_photo().rgb, torch.zeros(1, 1, H, W))
    with pytest.raises(InvalidInputError, match="No subject"):
        subject_box(empty)


@pytest.mark.parametrize(
    "step, says",
    [
        ({"backdrop": "colour"}, "needs the parameter colour"),
        ({"backdrop": "image"}, "needs the parameter image_png"),
        ({"blur": 3}, "takes no blur"),
        ({"backdrop": "colour", "colour": [1, 1, 1], "image_png": image_to_b64png(Image.new("L", (2, 2)))}, "no image"),
        ({"backdrop": "image", "image_png": "x"}, "'image_png' of remove_background is not valid base64"),
        ({"backdrop": "sky"}, "must be one of"),
        ({"grow": 1000}, "grow"),
        ({"box": [0, 0, 0, 5]}, "positive width"),
    ],
)
def test_bad_steps_are_refused_in_a_sentence(step, says):
    with pytest.raises(InvalidInputError, match=says):
        Recipe(steps=[{"op": "remove_background", **step}])


def test_a_recipe_replays_the_step_and_needs_a_cutter():
    pic = Image.new("RGB", (8, 8), (0, 255, 0))
    recipe = Recipe().add("remove_background", backdrop="image", image_png=image_to_b64png(pic), crop_to_subject=True)
    again = Recipe.from_json(recipe.to_json())
    a, b = recipe.apply(_photo(), cutter=FakeCutter()), again.apply(_photo(), cutter=FakeCutter())
    assert torch.equal(a.rgb, b.rgb) and a.size == BOX[2:]
    with pytest.raises(InvalidInputError, match="needs a cutout model"):
        apply_step(_photo(), {"op": "remove_background"})


def test_a_damaged_picture_is_refused_in_our_words():
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    import base64

    cut = base64.b64encode(buf.getvalue()[:40]).decode()
    with pytest.raises(InvalidInputError, match="background image"):
        remove_background(_photo(), FakeCutter(), backdrop="image", image_png=cut)
