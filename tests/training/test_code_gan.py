"""The code-space GAN experiment (train_code_gan): its metrics, and a run on a small decoder file."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from models.archs.emoji_gan import EmojiGenerator
from training.train_code_gan import code_metrics, decode, decoder_codes, main

pytestmark = pytest.mark.training


def test_code_metrics_tell_copies_collapse_and_misses_apart():
    torch.manual_seed(0)
    real = torch.randn(60, 8)
    groups = torch.arange(60) % 2
    # the real codes themselves: every sample is on the real manifold and covers it; they are copies
    p, r, near = code_metrics(real, real.clone(), groups, groups.clone())
    assert p == pytest.approx(1.0) and r == pytest.approx(1.0) and near == pytest.approx(0.0)
    # all samples of a group on one of its codes: precise, but they cover almost nothing
    one = torch.stack([real[groups == g][0] for g in (0, 1)])[groups] + 1e-3 * torch.randn(60, 8)
    p, r, _ = code_metrics(real, one, groups, groups.clone())
    assert p == pytest.approx(1.0) and r < 0.1
    # samples far from every code: neither precise nor covering, and far from their nearest code
    p, r, near = code_metrics(real, real + 50.0, groups, groups.clone())
    assert p == 0.0 and r == 0.0 and near > 5


def _decoder_file(path, n_sub: int = 24) -> None:
    """A small instance-conditioned generator file as train_gan --export writes it (4 held-out emoji)."""
    torch.manual_seed(0)
    cfg = {"z_dim": 8, "num_classes": 3, "embed_dim": 8, "channels": [16, 8], "base_size": 8, "output_size": 8}
    cfg.update(num_subclasses=n_sub, sub_scale=4.0)
    g = EmojiGenerator(**cfg)
    sd = g.state_dict()
    # two tight clusters of codes per group, so the real codes have a shape a GAN can find
    centres = torch.randn(3, 2, 8) * 3
    grp = torch.arange(n_sub) % 3
    codes = centres[grp, (torch.arange(n_sub) // 3) % 2] + 0.1 * torch.randn(n_sub, 8)
    sd["sub_embed.weight"] = (codes / 4.0).T.contiguous()
    sd["sub_group"] = grp
    sd["sub_prior"] = (torch.arange(n_sub) >= 4).float()  # the first four never trained: no code
    save_file({k: v.contiguous() for k, v in sd.items()}, str(path), metadata={"config": json.dumps(cfg)})


def test_decoder_codes_are_the_train_emoji_s_and_decode_to_rgba(tmp_path):
    _decoder_file(tmp_path / "dec.safetensors")
    cfg, sd, codes, groups = decoder_codes(tmp_path / "dec.safetensors")
    assert codes.shape == (20, 8) and groups.tolist() == (torch.arange(4, 24) % 3).tolist()
    torch.testing.assert_close(codes[0], sd["sub_embed.weight"][:, 4] * 4.0)
    g = EmojiGenerator(**cfg)
    g.load_state_dict(sd)
    g.eval()
    # a code decodes as the generator draws that emoji's conditioning at z = 0
    onehot_sub = torch.zeros(1, 24)
    onehot_sub[0, 4] = 1
    want = g(torch.zeros(1, 8), torch.nn.functional.one_hot(groups[:1], 3).float(), onehot_sub)
    with torch.no_grad():
        torch.testing.assert_close(decode(g, int(groups[0]), codes[:1]), want)


def test_a_file_without_codes_is_refused_plainly(tmp_path):
    g = EmojiGenerator(z_dim=8, num_classes=3, embed_dim=8, channels=[16, 8], base_size=8, output_size=8)
    save_file(g.state_dict(), str(tmp_path / "plain.safetensors"), metadata={"config": json.dumps({"z_dim": 8})})
    with pytest.raises(SystemExit, match="no per-emoji codes"):
        decoder_codes(tmp_path / "plain.safetensors")


def test_the_code_gan_finds_the_clusters_and_writes_its_run_and_grid(tmp_path):
    _decoder_file(tmp_path / "dec.safetensors")
    run = ["--decoder", str(tmp_path / "dec.safetensors"), "--out", str(tmp_path / "run"), "--threads", "1"]
    small = ["--batch", "64", "--hidden", "32", "--d-hidden", "32", "--noise", "0.05", "--lr-g", "2e-3", "--ema", "0.9"]
    main([*run, *small, "--steps", "600", "--log-every", "100", "--lr-d", "2e-3", "--grid", str(tmp_path / "g.png")])
    hist = json.loads((tmp_path / "run" / "config.json").read_text())["history"]
    assert [h["step"] for h in hist] == list(range(100, 601, 100))
    # codes come in tight clusters 3 spreads apart: the trained samples land in them, much nearer than at first
    # (over three seeds the last ratio was 0.11-0.14 of the first)
    assert hist[-1]["nearest"] < 0.3 * hist[0]["nearest"]
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert {"ema", "d", "shift", "scale"} <= state.keys()
    # five rows (codes, noisy codes, Gaussian fit, midpoints, GAN) per group shown, ten columns, 10 px cells
    with Image.open(tmp_path / "g.png") as im:
        assert im.size == (10 * 10, 5 * 3 * 10)
