"""Reading TorchScript archives without running them: exact state dicts, LaMa keys, refusals."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

from core.errors import WeightsIntegrityError
from models.torchscript import lama_keys, state_dict_from_torchscript

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.randn(4).half())
        self.register_buffer("scale", torch.tensor([2.0, 3.0]))
        self.block = Block()
        self.seq = nn.Sequential(nn.Conv2d(4, 2, 1), nn.ReLU(), nn.Conv2d(2, 2, 1, bias=False))
        self.plain = torch.ones(2)  # an attribute, not a parameter or buffer: not in the state dict

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x) * self.gain.float().view(1, 4, 1, 1)
        return self.seq(y) * self.scale[0] + self.plain.sum()


def make_net() -> Net:
    torch.manual_seed(0)
    net = Net()
    net.train()
    net(torch.rand(2, 3, 8, 8))  # moves the batch-norm statistics off their defaults
    return net.eval()


def assert_same(sd: dict[str, torch.Tensor], ref: dict[str, torch.Tensor]) -> None:
    assert list(sd) == list(ref)
    for k, v in ref.items():
        assert sd[k].dtype == v.dtype and sd[k].shape == v.shape, k
        assert torch.equal(sd[k], v), k


@pytest.mark.parametrize("how", ["script", "trace"])
def test_state_dict_matches_module(tmp_path, how):
    net = make_net()
    ts = torch.jit.script(net) if how == "script" else torch.jit.trace(net, torch.rand(1, 3, 8, 8))
    path = tmp_path / "net.pt"
    ts.save(str(path))
    sd = state_dict_from_torchscript(path)
    assert_same(sd, net.state_dict())
    assert int(sd["block.bn.num_batches_tracked"]) == 1
    assert "plain" not in sd and "seq.2.bias" not in sd


def rewrite(src: Path, dst: Path, change) -> None:
    """Copy a zip entry by entry; ``change(name, data)`` returns new bytes or None to drop the entry."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = change(name, zin.read(name))
            if data is not None:
                zout.writestr(name, data)


@pytest.fixture()
def scripted(tmp_path) -> Path:
    path = tmp_path / "net.pt"
    torch.jit.script(make_net()).save(str(path))
    return path


def test_without_code_declarations_falls_back_to_tensor_attributes(scripted, tmp_path):
    bare = tmp_path / "bare.pt"
    rewrite(scripted, bare, lambda n, d: None if "/code/" in n else d)
    sd = state_dict_from_torchscript(bare)
    ref = make_net().state_dict()
    assert_same({k: v for k, v in sd.items() if k != "plain"}, ref)


def test_refuses_code_in_the_pickle(tmp_path):
    marker = tmp_path / "pwned"
    evil = f"cos\nsystem\n(Vtouch {marker}\ntR".encode()
    for payload in (
        b"\x80\x02" + evil + b".",
        # hidden inside a module's state, where a lenient reader would meet it late
        b"\x80\x02c__torch__\nM\n)\x81}(Vweight\n" + evil + b"ub.",
        b"\x80\x02cbuiltins\neval\n(V__import__('os').system('touch " + str(marker).encode() + b"')\ntR.",
    ):
        path = tmp_path / "evil.pt"
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("evil/data.pkl", payload)
            z.writestr("evil/version", b"3\n")
        with pytest.raises(WeightsIntegrityError, match="refuses"):
            state_dict_from_torchscript(path)
        assert not marker.exists()


def test_damaged_archives_raise_integrity_errors(scripted, tmp_path):
    not_zip = tmp_path / "a.pt"
    not_zip.write_bytes(b"\x80\x02}q\x00.")
    no_pkl = tmp_path / "b.pt"
    rewrite(scripted, no_pkl, lambda n, d: None if n.endswith("data.pkl") else d)
    truncated = tmp_path / "c.pt"
    rewrite(scripted, truncated, lambda n, d: d[:3] if n.endswith("/data/2") else d)
    missing = tmp_path / "d.pt"
    rewrite(scripted, missing, lambda n, d: None if n.endswith("/data/2") else d)
    garbage = tmp_path / "e.pt"
    rewrite(scripted, garbage, lambda n, d: d[: len(d) // 2] if n.endswith("data.pkl") else d)
    expected = {not_zip: "not a zip", no_pkl: "no single data.pkl", truncated: "truncated", missing: "missing"}
    for path, words in expected.items():
        with pytest.raises(WeightsIntegrityError, match=words):
            state_dict_from_torchscript(path)
    with pytest.raises(WeightsIntegrityError, match="damaged") as caught:
        state_dict_from_torchscript(garbage)
    assert "Error" not in str(caught.value)  # the exception's class is for the log, not the user


def test_lama_keys_reroots_the_generator():
    t = torch.zeros(1)
    traced_generator = {"model.0.weight": t, "model.1.bn_l.running_mean": t}
    assert list(lama_keys(traced_generator)) == ["model.model.0.weight", "model.model.1.bn_l.running_mean"]
    training_module = {"generator.model.1.bn_l.running_mean": t, "discriminator.model.0.weight": t}
    assert list(lama_keys(training_module)) == ["model.model.1.bn_l.running_mean"]
    bare = {"1.bn_l.running_mean": t, "5.weight": t}
    assert list(lama_keys(bare)) == ["model.model.1.bn_l.running_mean", "model.model.5.weight"]
    ready = {"model.model.1.bn_l.running_mean": t}
    assert lama_keys(ready) == ready
    with pytest.raises(WeightsIntegrityError):
        lama_keys({"conv.weight": t})


@pytest.mark.slow
def test_traced_spandrel_lama_loads_back_into_spandrel(tmp_path, monkeypatch):
    from spandrel import MaskedImageModelDescriptor, ModelLoader
    from spandrel.architectures.LaMa import LaMa

    torch.manual_seed(0)
    lama = LaMa(in_nc=4, out_nc=3).eval()
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 20:40, 24:44] = 1
    with torch.no_grad():
        traced = torch.jit.trace(lama, (torch.rand(1, 3, 64, 64), mask), check_trace=False)
    traced.save(str(tmp_path / "lama.pt"))
    # IOPaint-style file: only the generator traced, so keys start at model.1...
    traced.model.save(str(tmp_path / "generator.pt"))
    del traced

    whole = state_dict_from_torchscript(tmp_path / "lama.pt")
    assert_same(whole, lama.state_dict())
    assert ModelLoader().load_from_state_dict(whole).architecture.id == "LaMa"
    generator = state_dict_from_torchscript(tmp_path / "generator.pt")
    assert "model.1.bn_l.running_mean" in generator
    fixed = lama_keys(generator)
    assert_same(fixed, lama.state_dict())
    desc = ModelLoader().load_from_state_dict(fixed)  # strict load: every key must fit
    assert isinstance(desc, MaskedImageModelDescriptor) and desc.architecture.id == "LaMa"

    # The registry's big-lama spec goes through the same path, and the pipeline runs it.
    from core.image import ImageData
    from models import weights
    from models.catalog import get_spec
    from models.loaders import load_model
    from ops.inpaint import inpaint

    monkeypatch.setattr(weights, "resolve", lambda spec, alternative=None: tmp_path / "generator.pt")
    model = load_model(get_spec("big-lama.hub"), torch.device("cpu"), torch.float32)
    image = ImageData(torch.rand(1, 3, 40, 50))
    res = inpaint(image, mask[..., :40, :50], model, strategy="original")
    outside = (mask[..., :40, :50] == 0).expand_as(image.rgb)
    assert torch.equal(res.image.rgb[outside], image.rgb[outside])
    assert not torch.equal(res.image.rgb, image.rgb)
