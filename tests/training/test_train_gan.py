"""The emoji GAN's training: train_gan's runs and parts, its pixel discriminator, the upsampler's training."""

from __future__ import annotations

import pytest
import torch

from models.archs.emoji_gan import DEFAULT_CONFIG, EmojiGenerator, to_size
from models.weights import ASSETS_DIR
from tests.models.test_emoji_gan import SUB_GROUP, emoji_adapter, stickers, subclass_generator
from training.discriminators import EmojiDiscriminator

pytestmark = pytest.mark.training


def test_discriminator_scores_each_image():
    g = EmojiGenerator(**DEFAULT_CONFIG).eval()
    x = g(torch.randn(3, DEFAULT_CONFIG["z_dim"]), torch.nn.functional.one_hot(torch.tensor([0, 4, 8]), 9).float())
    d = EmojiDiscriminator(num_classes=9)
    assert d(x * 2 - 1, torch.tensor([0, 4, 8])).shape == (3,)


def test_class_only_weights_warm_start_a_subclass_model_unchanged():
    from training.train_gan import remap_optimizer, warm_start

    torch.manual_seed(1)
    old_g, old_d = EmojiGenerator(**DEFAULT_CONFIG).eval(), EmojiDiscriminator(num_classes=9)
    new_g, new_d = subclass_generator(), EmojiDiscriminator(num_classes=9, num_subclasses=len(SUB_GROUP))
    warm_start(new_g, old_g.state_dict())
    warm_start(new_d, old_d.state_dict())
    z = torch.randn(5, DEFAULT_CONFIG["z_dim"])
    labels = torch.tensor([0, 2, 2, 8, 4])
    c = torch.nn.functional.one_hot(labels, 9).float()
    sub = torch.nn.functional.one_hot(torch.tensor([1, 3, 5, 12, 7]), len(SUB_GROUP)).float()
    x = old_g(z, c)
    assert torch.allclose(new_g(z, c, sub), x, atol=1e-6)
    old_d.eval(), new_d.eval()  # no power iteration: compare the same spectral norms
    assert torch.allclose(new_d(x, labels, sub.argmax(1)), old_d(x, labels), atol=1e-5)
    assert torch.equal(new_g.sub_group, SUB_GROUP)  # the table is the new model's, not overwritten
    with pytest.raises(ValueError, match="not a warm start"):
        warm_start(new_g, {k: v for k, v in old_g.state_dict().items() if k != "fc.weight"})
    # Adam's moments follow the parameters by name
    opt_old = torch.optim.Adam(old_g.parameters())
    old_g(z, c).mean().backward()
    opt_old.step()
    opt_new = torch.optim.Adam(new_g.parameters())
    names_old = [n for n, _ in old_g.named_parameters()]
    names_new = [n for n, _ in new_g.named_parameters()]
    remap_optimizer(opt_old.state_dict(), names_old, opt_new, names_new)
    moved = opt_new.state_dict()["state"]
    assert torch.equal(moved[names_new.index("fc.weight")]["exp_avg_sq"], opt_old.state[old_g.fc.weight]["exp_avg_sq"])
    assert names_new.index("sub_embed.weight") not in moved


def test_auxiliary_classifier_joins_a_discriminator_without_changing_its_scores():
    from training.train_gan import warm_start

    torch.manual_seed(2)
    old_d = EmojiDiscriminator(num_classes=9).eval()
    new_d = EmojiDiscriminator(num_classes=9, aux_classifier=True).eval()
    with pytest.raises(ValueError, match="not a warm start"):
        warm_start(new_d, old_d.state_dict())  # the class head is not one of the subclass parts
    warm_start(new_d, old_d.state_dict(), new_parts=("classifier.",))
    x = torch.rand(6, 4, 32, 32) * 2 - 1
    labels = torch.tensor([0, 1, 2, 3, 4, 8])
    score, logits = new_d(x, labels, with_logits=True)
    assert torch.allclose(score, old_d(x, labels), atol=1e-5)
    assert logits.shape == (6, 9) and torch.count_nonzero(logits) == 0  # starts at chance
    with pytest.raises(ValueError, match="no auxiliary classifier"):
        old_d(x, labels, with_logits=True)
    # the head learns: trained alone on fixed features, it separates the six labels
    opt = torch.optim.Adam(new_d.classifier.parameters(), lr=0.05)
    for _ in range(300):
        loss = torch.nn.functional.cross_entropy(new_d(x, labels, with_logits=True)[1], labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.equal(new_d(x, labels, with_logits=True)[1].argmax(1), labels)


def test_group_sampler_balances_small_groups():
    from training.train_gan import group_sampler

    labels = torch.tensor([0] * 300 + [1] * 60 + [2] * 40)
    torch.manual_seed(0)
    share = {
        b: torch.bincount(labels[group_sampler(labels, b)(20000)], minlength=3).float() / 20000 for b in (0.0, 0.5, 1.0)
    }
    assert torch.allclose(share[0.0], torch.tensor([0.75, 0.15, 0.10]), atol=0.015)  # as in the data
    assert torch.allclose(share[1.0], torch.full((3,), 1 / 3), atol=0.015)  # every group equally often
    sqrt = torch.tensor([300, 60, 40]).float().sqrt()
    assert torch.allclose(share[0.5], sqrt / sqrt.sum(), atol=0.015)


def test_upsampler_training_lowers_its_loss_and_export_folds_it_in(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from models.archs.emoji_gan import premultiply
    from training.train_emoji_upsampler import train
    from training.train_gan import export

    hi = stickers()
    lo = to_size(hi, 16)

    def l1(up) -> float:
        return float((premultiply(up(lo)) - premultiply(hi)).abs().mean())

    net, summary = train(hi, hi[:6], channels=8, blocks=1, minutes=5, batch=16, lr=3e-3, seed=0, max_steps=300)
    assert summary["steps"] == 300
    assert l1(net) < 0.9 * l1(lambda x: to_size(x, 32))  # bicubic, where the untrained upsampler starts
    save_file(
        net.state_dict(),
        str(tmp_path / "up.safetensors"),
        metadata={"config": '{"upsampler_channels": 8, "upsampler_blocks": 1}'},
    )
    g = EmojiGenerator(**DEFAULT_CONFIG)
    torch.save({"cfg": dict(DEFAULT_CONFIG), "ema": g.state_dict(), "step": 5}, tmp_path / "last.pt")
    export(tmp_path, tmp_path / "g.safetensors", tmp_path / "up.safetensors")
    with safe_open(str(tmp_path / "g.safetensors"), framework="pt") as f:
        cfg = __import__("json").loads(f.metadata()["config"])
    assert cfg["upsampler_channels"] == 8
    loaded = EmojiGenerator(**cfg)
    loaded.load_state_dict(load_file(str(tmp_path / "g.safetensors")), strict=True)
    torch.testing.assert_close(loaded.upsampler.tail.weight, net.tail.weight)


def test_export_takes_the_upsampler_of_an_exported_generator_file(tmp_path):
    """``--upsampler assets/emoji-gan.safetensors``: a new run is exported with the shipped upsampler as it is."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    from training.train_gan import export

    torch.manual_seed(7)
    g = EmojiGenerator(**DEFAULT_CONFIG)
    torch.save({"cfg": dict(DEFAULT_CONFIG), "ema": g.state_dict(), "step": 3}, tmp_path / "last.pt")
    shipped = ASSETS_DIR / "emoji-gan.safetensors"
    export(tmp_path, tmp_path / "g.safetensors", shipped)
    with safe_open(str(tmp_path / "g.safetensors"), framework="pt") as f:
        meta = f.metadata()
    cfg = __import__("json").loads(meta["config"])
    assert meta["steps"] == "3" and cfg["upsampler_channels"] == 32 and cfg["output_size"] == 64
    out, ref = load_file(str(tmp_path / "g.safetensors")), load_file(str(shipped))
    ups = [k for k in ref if k.startswith("upsampler.")]
    assert ups and all(torch.equal(out[k], ref[k]) for k in ups)  # the shipped upsampler, bit for bit
    assert all(torch.equal(out[k], v) for k, v in g.state_dict().items())  # and the run's own generator
    # a file without an upsampler is refused with its name, not folded in as nothing
    export(tmp_path, tmp_path / "plain.safetensors")
    with pytest.raises(SystemExit, match="plain.safetensors holds no sticker upsampler"):
        export(tmp_path, tmp_path / "g2.safetensors", tmp_path / "plain.safetensors")


def test_a_widened_generator_computes_the_same_and_then_trains():
    from training.train_gan import widen_checkpoint

    torch.manual_seed(4)
    old = EmojiGenerator(**DEFAULT_CONFIG)
    with torch.no_grad():
        for p in old.parameters():  # nonzero conditional-BN gains and biases too
            p.add_(0.05 * torch.randn_like(p))
    z = torch.randn(6, DEFAULT_CONFIG["z_dim"])
    c = torch.nn.functional.one_hot(torch.tensor([0, 1, 3, 5, 7, 8]), 9).float()
    opt = torch.optim.Adam(old.parameters(), betas=(0.0, 0.999))
    old(z, c).mean().backward()  # also moves the batch-norm running statistics off 0 and 1
    opt.step()
    state = {"cfg": dict(DEFAULT_CONFIG), "g": old.state_dict(), "ema": old.state_dict(), "opt_g": opt.state_dict()}
    wide_channels = [c_ * 2 for c_ in DEFAULT_CONFIG["channels"]]
    grown = widen_checkpoint(state, wide_channels)
    assert grown["cfg"]["channels"] == wide_channels and grown["cfg"] is not state["cfg"]
    wide = EmojiGenerator(**grown["cfg"])
    wide.load_state_dict(grown["g"])
    assert sum(p.numel() for p in wide.parameters()) > 2.5 * sum(p.numel() for p in old.parameters())
    for mode in (True, False):  # batch statistics, then running statistics
        old.train(mode), wide.train(mode)
        with torch.no_grad():
            assert torch.allclose(wide(z, c), old(z, c), atol=1e-6)
    # the new channels are live: random inputs, zero (but trainable) outputs, and Adam's moments fit
    assert wide.blocks[0].conv1.weight[DEFAULT_CONFIG["channels"][1] :].abs().sum() > 0
    opt_wide = torch.optim.Adam(wide.parameters(), lr=1e-3, betas=(0.0, 0.999))
    opt_wide.load_state_dict(grown["opt_g"])
    wide.train()
    wide(z, c).mean().backward()
    assert wide.out.weight.grad[:, DEFAULT_CONFIG["channels"][-1] :].abs().sum() > 0
    opt_wide.step()
    with torch.no_grad():
        assert not torch.allclose(wide(z, c), old(z, c), atol=1e-4)
    with pytest.raises(SystemExit, match="at least"):
        widen_checkpoint(state, [64, 96, 64, 32])


def test_mode_seeking_term_punishes_pairs_that_give_the_same_image():
    from training.train_gan import mode_seeking_loss

    torch.manual_seed(0)
    z = torch.randn(8, 64)
    img = torch.rand(4, 4, 32, 32)
    same = torch.cat([img, img])  # pairs (i, i + 4) are one picture: collapsed
    apart = torch.cat([img, torch.rand(4, 4, 32, 32)])
    assert mode_seeking_loss(same, z) > 1000 * mode_seeking_loss(apart, z)
    # its gradient pulls a pair's images apart: a small step against it raises their distance
    x = (apart + 0.0).requires_grad_(True)
    mode_seeking_loss(x, z).backward()
    moved = (x - 0.01 * x.grad.sign()).detach()
    assert (moved[:4] - moved[4:]).abs().mean() > (apart[:4] - apart[4:]).abs().mean()
    # and more latent distance asks for more image distance
    assert mode_seeking_loss(apart, 2 * z) > mode_seeking_loss(apart, z)


def test_batch_translation_matches_shifting_each_image():
    from training.train_gan import translate

    torch.manual_seed(1)
    x = torch.randn(5, 4, 12, 10)
    dx, dy = torch.tensor([-3, 0, 2, 1, -1]), torch.tensor([1, -2, 0, 3, -3])
    out = translate(x, dx, dy)
    for i in range(5):
        want = torch.full((4, 12, 10), -1.0)
        for r in range(12):
            for c in range(10):
                sr, sc = r + int(dy[i]), c + int(dx[i])
                if 0 <= sr < 12 and 0 <= sc < 10:
                    want[:, r, c] = x[i, :, sr, sc]
        assert torch.equal(out[i], want)


def test_mirror_flips_whole_images_left_to_right_at_the_given_rate():
    from training.train_gan import mirror

    torch.manual_seed(2)
    x = torch.randn(400, 4, 6, 5)
    assert mirror(x, 0.0) is x
    assert torch.equal(mirror(x, 1.0), x.flip(3))
    out = mirror(x, 0.5, torch.Generator().manual_seed(0))
    same = (out == x).flatten(1).all(1)
    flipped = (out == x.flip(3)).flatten(1).all(1)
    assert bool((same | flipped).all())  # whole images, each either kept or mirrored
    assert 160 < int(flipped.sum()) < 240  # about half


def _tiny_dataset(folder) -> None:
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(0)
    n = 45
    labels = torch.arange(n) % 9
    save_file(
        {
            "images": (torch.rand(n, 4, 64, 64, generator=g) * 255).to(torch.uint8),
            "labels": labels,
            "sublabels": labels * 2 + (torch.arange(n) // 9) % 2,
            "held_out": (torch.arange(n) >= 36).to(torch.uint8),
        },
        str(folder / "emoji64.safetensors"),
    )


#: a tiny, fast training run on the CPU for the train_gan tests
TINY_RUN = ["--channels", "32,16,8", "--base-size", "16", "--batch", "8", "--d-steps", "1", "--device", "cpu"]


def _tiny_projected_setup(folder, monkeypatch) -> list[str]:
    """The tiny dataset in ``folder`` and a stand-in for Lite1 (its four stage outputs, small and random: no
    wheel needed) under the projected discriminator; returns ``TINY_RUN``."""
    from tests.training.test_projected import StandIn
    from training import projected

    monkeypatch.setattr(projected, "Lite1Features", StandIn)
    _tiny_dataset(folder)
    return TINY_RUN


def test_train_gan_runs_a_new_size_on_the_chosen_device_resumes_and_exports(tmp_path):
    """A fresh run with its own generator size, on the device named (here the CPU, as CI has no GPU), to a
    fixed step; --resume continues it; the export loads as a generator of that size."""
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file

    from training.train_gan import main

    _tiny_dataset(tmp_path)
    run = ["--data", str(tmp_path), "--out", str(tmp_path / "run"), "--batch", "8", "--d-steps", "1"]
    main([*run, "--device", "cpu", "--channels", "32,16,8", "--base-size", "16", "--max-steps", "3", "--xflip", "0.5"])
    state = torch.load(tmp_path / "run" / "last.pt", map_location="cpu", weights_only=True)
    assert state["step"] == 3 and state["cfg"]["channels"] == [32, 16, 8] and state["cfg"]["base_size"] == 16
    summary = json.loads((tmp_path / "run" / "config.json").read_text())
    assert summary["device"] == "cpu" and summary["xflip"] == 0.5
    main([*run, "--device", "auto", "--resume", "--max-steps", "5"])
    assert torch.load(tmp_path / "run" / "last.pt", map_location="cpu", weights_only=True)["step"] == 5
    with pytest.raises(SystemExit, match="new run"):
        main([*run, "--resume", "--channels", "64,32,16", "--max-steps", "6"])
    main(["--out", str(tmp_path / "run"), "--export", str(tmp_path / "g.safetensors")])
    with safe_open(str(tmp_path / "g.safetensors"), framework="pt") as f:
        cfg = json.loads(f.metadata()["config"])
    g = EmojiGenerator(**cfg).eval()
    g.load_state_dict(load_file(str(tmp_path / "g.safetensors")), strict=True)
    out = g(torch.randn(2, cfg["z_dim"]), torch.eye(9)[:2])
    assert out.shape == (2, 4, 16, 16) and 0 <= float(out.min()) and float(out.max()) <= 1


def test_a_portable_run_state_drops_the_moments_and_resumes(tmp_path, monkeypatch):
    """--portable: the run state without Adam's moments and in float16 (what a lent GPU machine sends back);
    --resume from it continues the same weights and step, with the moments started afresh."""
    from training.train_gan import main

    tiny = _tiny_projected_setup(tmp_path, monkeypatch)
    run = ["--data", str(tmp_path), "--out", str(tmp_path / "run"), "--projected", "32", "--aux-weight", "0.25"]
    main([*run, *tiny, "--max-steps", "3"])
    full = tmp_path / "run" / "last.pt"
    big = torch.load(full, map_location="cpu", weights_only=True)
    big["ema"]["out_bn.running_var"][0] = 1e5  # beyond float16's range: that tensor stays float32
    torch.save(big, full)
    main(["--out", str(tmp_path / "run"), "--portable", str(tmp_path / "slim.pt")])
    slim = torch.load(tmp_path / "slim.pt", map_location="cpu", weights_only=True)
    state = torch.load(full, map_location="cpu", weights_only=True)
    assert "opt_g" not in slim and "opt_d" not in slim and slim["step"] == 3
    for part in ("g", "ema", "d"):  # the same weights, in float16 (counters stay integers)
        for k, v in state[part].items():
            if (part, k) == ("ema", "out_bn.running_var"):
                assert slim[part][k].dtype == torch.float32 and torch.equal(slim[part][k], v)
            else:
                assert torch.equal(slim[part][k], v.half() if v.is_floating_point() else v), k
    assert (tmp_path / "slim.pt").stat().st_size < 0.35 * full.stat().st_size
    # the slim copy in place of the run state: resumes at its step, and the weights go on training
    (tmp_path / "slim.pt").replace(full)
    main([*run, "--resume", "--device", "cpu", "--batch", "8", "--d-steps", "1", "--max-steps", "5"])
    after = torch.load(full, map_location="cpu", weights_only=True)
    assert after["step"] == 5 and after["opt_g"]["state"] and after["opt_d"]["state"]
    assert after["g"]["fc.weight"].dtype == torch.float32
    moved = after["g"]["fc.weight"] - slim["g"]["fc.weight"].float()
    assert 0 < float(moved.abs().max()) < 2e-3  # two Adam steps at lr 2e-4 from the portable weights


def test_train_gan_device_and_size_errors_are_plain(monkeypatch):
    from training.train_gan import fresh_config, resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(SystemExit, match="no CUDA GPU"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    assert fresh_config("256,128,64,32", 64)["output_size"] == 64
    with pytest.raises(SystemExit, match="multiple of 32"):
        fresh_config("256,128,64,32", 48)


def test_train_gan_grows_a_class_only_file_into_a_subgroup_run_with_a_projected_discriminator(tmp_path, monkeypatch):
    """--projected --subclasses --init-g: a trained class-only generator starts a subgroup run unchanged (its
    subgroup embedding is zero), the discriminator judges subgroups, and the run trains, resumes and exports."""
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file

    from training.train_gan import main

    size = _tiny_projected_setup(tmp_path, monkeypatch)
    main(["--data", str(tmp_path), "--out", str(tmp_path / "plain"), *size, "--max-steps", "2"])
    plain_file = tmp_path / "plain.safetensors"
    main(["--out", str(tmp_path / "plain"), "--export", str(plain_file)])
    sub = ["--data", str(tmp_path), "--out", str(tmp_path / "sub"), "--projected", "64", "--subclasses"]
    sub += ["--sub-scale", "4", "--aux-weight", "0.5", "--init-g", str(plain_file), *size]
    main([*sub, "--minutes", "0"])  # the state before any step
    state = torch.load(tmp_path / "sub" / "last.pt", map_location="cpu", weights_only=True)
    cfg = state["cfg"]
    assert cfg["num_subclasses"] == 18 and cfg["sub_scale"] == 4.0
    assert state["d_cfg"] == {
        "projected": True,
        "num_classes": 9,
        "feature_size": 64,
        "num_subclasses": 18,
        "aux_classifier": True,
    }
    assert state["d"]["classifier.weight"].shape[0] == 18  # the class head tells the subgroups apart
    g_sub = EmojiGenerator(**cfg).eval()
    g_sub.load_state_dict(state["ema"])
    assert g_sub.sub_group.tolist() == [i // 2 for i in range(18)]  # the tiny set's subgroup s is in group s // 2
    g_plain = EmojiGenerator(**{k: v for k, v in cfg.items() if k not in ("num_subclasses", "sub_scale")}).eval()
    g_plain.load_state_dict(load_file(str(plain_file)))
    z, c = torch.randn(3, 64), torch.eye(9)[[0, 4, 8]]
    with torch.no_grad():
        assert torch.equal(g_sub(z, c, torch.eye(18)[[1, 8, 17]]), g_plain(z, c))
    main([*sub, "--max-steps", "3"])  # a fresh run of 3 steps (no --resume)
    main(["--data", str(tmp_path), "--out", str(tmp_path / "sub"), "--resume", "--max-steps", "4", "--batch", "8"])
    state = torch.load(tmp_path / "sub" / "last.pt", map_location="cpu", weights_only=True)
    assert state["step"] == 4 and state["cfg"] == cfg
    assert float(state["g"]["sub_embed.weight"].abs().sum()) > 0  # the subgroup embedding trains
    main(["--out", str(tmp_path / "sub"), "--export", str(tmp_path / "sub.safetensors")])
    with safe_open(str(tmp_path / "sub.safetensors"), framework="pt") as f:
        exported = EmojiGenerator(**json.loads(f.metadata()["config"])).eval()
    exported.load_state_dict(load_file(str(tmp_path / "sub.safetensors")), strict=True)
    adapter = emoji_adapter(exported, tuple("abcdefghi"), 16)
    out = adapter.generate([0, 1, 2], [5, 5, 5])
    assert out.shape == (3, 4, 16, 16)


def test_neighbour_table_lists_each_image_first_then_its_nearest_of_the_same_group():
    from training.train_gan import neighbour_table

    degrees = torch.tensor([0.0, 10.0, 50.0, 90.0, 5.0, 12.0, 200.0])
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 1])
    vectors = torch.stack([torch.cos(torch.deg2rad(degrees)), torch.sin(torch.deg2rad(degrees))], dim=1)
    table = neighbour_table(lambda v: v * 3, vectors, labels, 3, batch=2)  # cosine: the length does not count
    # 0 degrees: itself, then 10 and 50 of its own group; 5 and 12 are closer but in the other group
    assert table[0].tolist() == [0, 1, 2]
    assert table[3].tolist() == [3, 2, 1]
    assert table[6].tolist()[0] == 6 and set(table[6].tolist()) == {4, 5, 6}
    with pytest.raises(SystemExit, match="smallest group has only 3"):
        neighbour_table(lambda v: v, vectors, labels, 4)


def test_train_gan_conditions_on_instances_shown_through_their_neighbours(tmp_path, monkeypatch):
    """--instances --neighbours K: every train emoji is its own subclass (held-out ones are never drawn), the
    choice travels with the run state, a resume keeps it and refuses to change it, and the export samples."""
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file

    from training.train_gan import main

    size = _tiny_projected_setup(tmp_path, monkeypatch)
    run = ["--data", str(tmp_path), "--out", str(tmp_path / "inst")]
    with pytest.raises(SystemExit, match="add --projected"):
        main([*run, "--instances", "--neighbours", "3", *size, "--max-steps", "1"])
    new = ["--projected", "64", "--instances", "--neighbours", "3", "--aux-weight", "0.5"]
    main([*run, *new, *size, "--max-steps", "2"])
    state = torch.load(tmp_path / "inst" / "last.pt", map_location="cpu", weights_only=True)
    assert state["run"] == {"instances": True, "neighbours": 3, "styles": False}
    assert state["cfg"]["num_subclasses"] == 45 and state["d"]["classifier.weight"].shape[0] == 45
    g = EmojiGenerator(**state["cfg"])
    g.load_state_dict(state["ema"])
    assert g.sub_prior.tolist() == [1.0] * 36 + [0.0] * 9  # the 9 held-out emoji have no train image
    assert g.sub_group.tolist()[:36] == [i % 9 for i in range(36)]
    with pytest.raises(SystemExit, match="keeps its own"):
        main([*run, "--resume", "--neighbours", "2", *size[4:], "--max-steps", "3"])
    main([*run, "--resume", "--max-steps", "3", "--batch", "8"])
    state = torch.load(tmp_path / "inst" / "last.pt", map_location="cpu", weights_only=True)
    assert state["step"] == 3 and state["run"] == {"instances": True, "neighbours": 3, "styles": False}
    main(["--out", str(tmp_path / "inst"), "--export", str(tmp_path / "inst.safetensors")])
    with safe_open(str(tmp_path / "inst.safetensors"), framework="pt") as f:
        exported = EmojiGenerator(**json.loads(f.metadata()["config"])).eval()
    exported.load_state_dict(load_file(str(tmp_path / "inst.safetensors")), strict=True)
    # a group draws its own train emoji: group 4's are 4, 13, 22 and 31, each for a quarter of the seeds
    picked = exported.subclass_vectors(torch.eye(9)[[4] * 400], torch.rand(400)).argmax(1)
    assert set(picked.tolist()) == {4, 13, 22, 31}
    assert emoji_adapter(exported, tuple("abcdefghi"), 16).generate([0, 1], [4, 4]).shape == (2, 4, 16, 16)


def test_train_gan_conditions_on_group_and_art_style(tmp_path, monkeypatch):
    """--styles on a two-style dataset: the subclasses are (group, style) pairs, each under its group and drawn
    half the time; a one-style dataset is refused plainly, and a resume keeps the choice."""
    from safetensors.torch import load_file, save_file

    from training.train_gan import load_split, main

    size = _tiny_projected_setup(tmp_path, monkeypatch)
    run = ["--data", str(tmp_path), "--out", str(tmp_path / "sty")]
    with pytest.raises(SystemExit, match="one art style"):
        main([*run, "--projected", "64", "--styles", *size, "--max-steps", "1"])
    d = load_file(str(tmp_path / "emoji64.safetensors"))
    d["styles"] = (torch.arange(45) >= 18).to(torch.uint8)  # the first 18 images in style 0, the rest in style 1
    save_file(d, str(tmp_path / "emoji64.safetensors"))
    _, y, s, count = load_split(tmp_path, 16, held_out=False, styles=True)
    assert count == 18 and s.tolist() == [2 * int(g) + int(i >= 18) for i, g in enumerate(y)]
    with pytest.raises(SystemExit, match="choose one"):
        main([*run, "--projected", "64", "--styles", "--instances", *size, "--max-steps", "1"])
    main([*run, "--projected", "64", "--styles", "--aux-weight", "0.5", *size, "--max-steps", "2"])
    state = torch.load(tmp_path / "sty" / "last.pt", map_location="cpu", weights_only=True)
    assert state["run"] == {"instances": False, "neighbours": 1, "styles": True}
    assert state["cfg"]["num_subclasses"] == 18 and state["d"]["classifier.weight"].shape[0] == 18
    g = EmojiGenerator(**state["cfg"])
    g.load_state_dict(state["ema"])
    assert g.sub_group.tolist() == [i // 2 for i in range(18)]
    assert g.sub_prior.tolist() == [2.0, 2.0] * 9  # 36 train images: each group twice in each style
    picked = g.subclass_vectors(torch.eye(9)[[4] * 400], torch.rand(400)).argmax(1)
    assert set(picked.tolist()) == {8, 9} and 150 < int((picked == 8).sum()) < 250
    with pytest.raises(SystemExit, match="keeps its own"):
        main([*run, "--resume", "--instances", *size[4:], "--max-steps", "3"])
    main([*run, "--resume", "--max-steps", "3", "--batch", "8"])
    assert torch.load(tmp_path / "sty" / "last.pt", map_location="cpu", weights_only=True)["run"]["styles"]


def test_sticker_distance_looks_through_transparency_only_at_alpha():
    from training.train_gan import sticker_l1

    torch.manual_seed(2)
    a = torch.rand(3, 4, 8, 8) * 2 - 1
    a[:, 3, :4] = -1  # the top half transparent
    b = a.clone()
    b[:, :3, :4] = torch.rand(3, 3, 4, 8) * 2 - 1  # other colour under the transparent pixels: no difference
    assert torch.allclose(sticker_l1(a, b), torch.zeros(3), atol=1e-6)
    c = a.clone()
    c[1, :3, 6, 6] = -a[1, :3, 6, 6]  # one visible pixel of image 1 changes colour
    d = sticker_l1(a, c)
    assert d[0] == 0 and d[2] == 0 and d[1] > 0
    e = a.clone()
    e[2, 3, 0, 0] = 1  # and a transparent pixel that turns opaque counts too
    assert sticker_l1(a, e)[2] > 0


def test_imle_search_returns_each_images_nearest_candidate_and_more_candidates_come_nearer():
    from training.train_gan import nearest_latents, sticker_l1

    torch.manual_seed(0)
    g = EmojiGenerator(z_dim=16, num_classes=3, embed_dim=8, channels=[32, 16, 8], base_size=16, output_size=16)
    with torch.no_grad():  # running statistics that are not the defaults, so eval mode differs from training
        g(torch.randn(64, 16), torch.eye(3)[torch.arange(64) % 3])
    g.train()
    labels = torch.arange(12) % 3
    conds = [torch.eye(3)[labels]]
    with torch.no_grad():
        real = g.eval()(torch.randn(12, 16), conds[0]) * 2 - 1  # images the generator can draw
    g.train()
    torch.manual_seed(1)
    z, dist = nearest_latents(g, real, conds, candidates=4, chunk=5)
    assert z.shape == (12, 16) and g.training  # the mode it was in
    with torch.no_grad():
        assert torch.allclose(sticker_l1(g.eval()(z, conds[0]) * 2 - 1, real), dist, atol=1e-5)
    g.train()
    # the same draws, all four candidates per image: the kept one is the nearest of them
    torch.manual_seed(1)
    for i in range(0, 12, 5):
        k = min(5, 12 - i)
        cand = torch.randn(k, 4, 16)
        with torch.no_grad():
            fake = g.eval()(cand.flatten(0, 1), conds[0][i : i + k].repeat_interleave(4, 0)) * 2 - 1
        all_d = sticker_l1(fake, real[i : i + k].repeat_interleave(4, 0)).view(k, 4)
        assert torch.allclose(all_d.min(1).values, dist[i : i + k], atol=1e-5)
    g.train()
    _, many = nearest_latents(g, real, conds, candidates=64)
    assert many.mean() < dist.mean()


def test_train_gan_imle_term_pulls_each_emoji_s_latent_onto_it(tmp_path, caplog):
    """--imle W: the search runs every --imle-every steps and is logged; the run records its settings; and the
    term's gradient is a pull: a few steps on it alone bring the nearest samples closer to their emoji."""
    import json
    import logging

    from training.train_gan import load_split, main, nearest_latents, sticker_l1

    _tiny_dataset(tmp_path)
    run = ["--data", str(tmp_path), "--out", str(tmp_path / "run"), "--batch", "8", "--d-steps", "1"]
    size = ["--device", "cpu", "--channels", "32,16,8", "--base-size", "16"]
    with caplog.at_level(logging.INFO, logger="train_gan"):
        imle = ["--imle", "2", "--imle-every", "2", "--imle-candidates", "3", "--imle-batch", "4"]
        main([*run, *size, *imle, "--max-steps", "5"])
    assert sum("IMLE: nearest latents found for 36 emoji" in r.message for r in caplog.records) == 3  # steps 0, 2, 4
    imle = json.loads((tmp_path / "run" / "config.json").read_text())["imle"]
    assert imle == {"weight": 2.0, "every": 2, "candidates": 3, "batch": 4}

    torch.manual_seed(0)
    g = EmojiGenerator(z_dim=16, num_classes=9, embed_dim=8, channels=[32, 16, 8], base_size=16, output_size=16)
    x, y, _, _ = load_split(tmp_path, 16, held_out=False)
    x = x * 2 - 1
    conds = [torch.eye(9)[y]]
    z, before = nearest_latents(g, x, conds, candidates=4)
    opt = torch.optim.Adam(g.parameters(), lr=1e-3)
    for _ in range(30):
        loss = sticker_l1(g(z, *conds) * 2 - 1, x).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():  # in eval mode, as the search measured (the steps kept the running statistics)
        after = sticker_l1(g.eval()(z, *conds) * 2 - 1, x)
    assert after.mean() < 0.9 * before.mean()


def test_anchor_loss_is_zero_only_when_z_zero_draws_the_emoji():
    from training.train_gan import anchor_loss

    torch.manual_seed(0)
    g = EmojiGenerator(z_dim=16, num_classes=3, embed_dim=8, channels=[32, 16, 8], base_size=16, output_size=16)
    g.eval()
    conds = [torch.eye(3)[[0, 1, 2]]]
    with torch.no_grad():
        at_zero = g(torch.zeros(3, 16), *conds) * 2 - 1
        elsewhere = g(torch.randn(3, 16), *conds) * 2 - 1
        assert anchor_loss(g, at_zero, conds) < 1e-6
        assert anchor_loss(g, elsewhere, conds) > 1e-3


def test_train_gan_anchor_draws_each_emoji_at_z_zero(tmp_path, caplog):
    """--anchor W (an --instances run): the reconstruction anchor is logged and recorded; --anchor-only trains the
    generator on it alone, so the discriminator is untouched and each train emoji's conditioning at z = 0 comes
    nearer to that emoji; a run without instances is refused."""
    import json
    import logging

    from training.train_gan import anchor_loss, load_split, main

    _tiny_dataset(tmp_path)
    run = ["--data", str(tmp_path), "--out", str(tmp_path / "a"), *TINY_RUN, "--seed", "3"]
    with pytest.raises(SystemExit, match="needs an --instances run"):
        main([*run, "--anchor", "1", "--max-steps", "1"])
    main([*run, "--instances", "--anchor-only", "--anchor-batch", "36", "--lr-g", "0", "--max-steps", "1"])
    start = torch.load(tmp_path / "a" / "last.pt", map_location="cpu", weights_only=True)
    main([*run, "--instances", "--anchor-only", "--anchor-batch", "36", "--lr-g", "2e-3", "--max-steps", "60"])
    end = torch.load(tmp_path / "a" / "last.pt", map_location="cpu", weights_only=True)
    assert all(torch.equal(start["d"][k], v) for k, v in end["d"].items())  # no discriminator step
    assert json.loads((tmp_path / "a" / "config.json").read_text())["anchor"] == {
        "weight": 0.0,
        "batch": 36,
        "only": True,
    }
    x, y, s, num_sub = load_split(tmp_path, 16, held_out=False, instances=True)
    conds = [torch.eye(9)[y], torch.eye(num_sub)[s]]
    losses = []
    for state in (start, end):
        g = EmojiGenerator(**state["cfg"])
        g.load_state_dict(state["g"])
        g.train()  # batch statistics, as in training (running ones lag after 60 steps)
        with torch.no_grad():
            losses.append(anchor_loss(g, x * 2 - 1, conds).item())
    assert losses[1] < 0.8 * losses[0]
    # with the adversarial loss: both terms train, and the anchor is logged
    with caplog.at_level(logging.INFO, logger="train_gan"):
        main([*run[:2], "--out", str(tmp_path / "b"), *run[4:], "--instances", "--anchor", "5", "--max-steps", "50"])
    assert any("anchor 0." in r.message for r in caplog.records)
    cfg = json.loads((tmp_path / "b" / "config.json").read_text())
    assert cfg["anchor"] == {"weight": 5.0, "batch": 32, "only": False}
