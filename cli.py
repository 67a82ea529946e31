"""Ganvas on the command line: the same ops and model registry as the app.

Errors print one line on stderr and exit with code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

from models.registry import Task  # the registry module is torch-free: --help stays quick

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


def _progress_bar(desc: str) -> tuple[Callable[[float, str], None], Callable[[], None]]:
    """A tqdm bar on stderr driven by (fraction, text) callbacks; returns (update, close)."""
    from tqdm import tqdm

    bar = tqdm(
        total=100,
        desc=desc,
        unit="%",
        file=sys.stderr,
        leave=False,
        disable=not sys.stderr.isatty(),
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}",
    )

    def update(fraction: float, text: str) -> None:
        bar.n = int(round(100 * max(0.0, min(1.0, fraction))))
        bar.set_postfix_str(text, refresh=False)
        bar.refresh()

    return update, bar.close


class _DownloadBar:
    """A tqdm bar on stderr for each weights file a model load downloads (size, speed, time left), made on the
    file's first report. Drawn also when stderr is not a terminal: a download is rare and long, and a log
    should show that it happened."""

    def __init__(self) -> None:
        self._bar = None
        self._what = ""

    def __call__(self, done: int, total: int | None, what: str) -> None:
        from tqdm import tqdm

        if self._bar is None or what != self._what:
            self.close()
            self._what = what
            self._bar = tqdm(
                total=total, desc=f"Downloading {what}", unit="B", unit_scale=True, file=sys.stderr, mininterval=0.5
            )
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _loaded(cache, model_id: str):
    """The model from the cache; a download it needs first draws a :class:`_DownloadBar`."""
    bar = _DownloadBar()
    try:
        return cache.get(model_id, progress=bar)
    finally:
        bar.close()


def _inputs(paths: list[str], recursive: bool = False, output: str | None = None) -> tuple[list[Path], Path | None]:
    """Expand the input list: files, or one folder of images (with ``recursive``, its subfolders' too, leaving
    out the folder ``output`` where it lies inside). Returns (files, the folder, or None for files)."""
    from core.errors import InvalidInputError

    if len(paths) == 1 and Path(paths[0]).is_dir():
        root = Path(paths[0])
        files = _folder_images(root, recursive, Path(output) if output else None)
        if not files:
            raise InvalidInputError(f"No images in folder {paths[0]}{' or its subfolders' if recursive else ''}.")
        return files, root
    if recursive:
        raise InvalidInputError("--recursive walks a folder: give one folder as the input.")
    files = [Path(p) for p in paths]
    for f in files:
        if f.is_dir():
            raise InvalidInputError(f"{f} is a folder: give one folder alone, or image files.")
        if not f.is_file():
            raise InvalidInputError(f"No such file: {f}.")
    return files, None


def _folder_images(root: Path, recursive: bool, skip: Path | None) -> list[Path]:
    """The images in ``root`` (and, with ``recursive``, below it, without following links to folders), in name
    order; the folder ``skip`` (the output) is left out, so a second run does not take the first one's
    results for inputs."""
    if not recursive:
        return sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    skipped = skip.resolve() if skip is not None else None
    found = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if (Path(folder) / d).resolve() != skipped)
        found += [Path(folder) / n for n in sorted(names) if Path(n).suffix.lower() in IMAGE_SUFFIXES]
    return found


def _is_batch(files: list[Path], out: str, root: Path | None) -> bool:
    """Whether ``-o`` is a folder that gets a file for each input."""
    return root is not None or len(files) > 1 or Path(out).is_dir()


def _outputs(files: list[Path], out: str, root: Path | None, suffixes: list[str] | None = None) -> list[Path]:
    """The output file of each input: ``out`` itself for one file, else a file in the folder ``out`` named as
    the input (at its place below ``root``, the input folder) with the suffix ``suffixes`` gives it (``.png``
    by default)."""
    from core.errors import InvalidInputError
    from ops.convert import check_folders

    o = Path(out)
    if _is_batch(files, out, root):
        check_folders(o)
        if o.suffix.lower() in IMAGE_SUFFIXES and not o.is_dir():
            raise InvalidInputError(f"With several inputs, -o must be a folder, not {o}.")
        suffixes = suffixes or [".png"] * len(files)
        outs = [
            o / (f.relative_to(root) if root is not None else Path(f.name)).with_suffix(s)
            for f, s in zip(files, suffixes, strict=True)
        ]
        seen: set[Path] = set()
        for dst in outs:
            if dst in seen:
                raise InvalidInputError(f"Two inputs would both be written as {dst}: rename one of them.")
            seen.add(dst)
        o.mkdir(parents=True, exist_ok=True)
        return outs
    if o.suffix.lower() not in IMAGE_SUFFIXES:
        raise InvalidInputError(f"Output {o} needs an image suffix such as .png (or give a folder).")
    return [o]


def _format_options(args: argparse.Namespace, batch: bool) -> tuple[str | None, int | None]:
    """(--format, --quality) as they apply: --format only when -o is a folder (else the suffix of -o says it;
    None: PNG, an animation its own kind); --quality only for JPEG and WebP output, by default
    :data:`ops.formats.DEFAULT_QUALITY` in a folder."""
    from core.errors import InvalidInputError
    from core.numbers import whole_number
    from ops.formats import DEFAULT_QUALITY

    if args.format is not None and not batch:
        raise InvalidInputError(
            f"--format applies when -o is a folder; for one file the suffix of {args.output} says the type."
        )
    quality = None if args.quality is None else whole_number(args.quality, "--quality", 1, 100)
    if batch:
        lossy = args.format not in (None, "png")
    else:
        lossy = Path(args.output).suffix.lower() in (".jpg", ".jpeg", ".webp")
    if quality is not None and not lossy:
        raise InvalidInputError(
            "--quality applies to JPEG and WebP output: write one, or a folder with --format keep, jpg or webp."
        )
    return args.format, DEFAULT_QUALITY if quality is None and batch else quality


def _cache(device: str | None):
    from models.devices import pick_device
    from models.runtime import ModelCache

    return ModelCache(device=pick_device(device))


def _cache_once(device: str | None) -> Callable[[], object]:
    """A getter of one model cache, made at its first call (a recipe without model steps loads nothing)."""
    made: list = []

    def get():
        if not made:
            made.append(_cache(device))
        return made[0]

    return get


def _spec(cache, task: str, model_id: str | None, scale: float | None = None):
    """(the model to run, why it was chosen): ``--model``, else the task's default resolved on the cache's device
    (local Hub cache, then a Hub that answers within seconds, then offline; see models/defaults.py), for the
    output ``scale`` where the task has a rule by scale. ``why`` is None for ``--model``."""
    from models.defaults import resolve_default

    if model_id:
        return cache.registry.for_task(task, model_id), None
    choice = resolve_default(cache.registry, task, cache.device)
    default = choice.spec_for_scale(scale) if scale is not None else choice.spec
    spec = cache.registry.for_task(task, default.id if default else None)
    return spec, f"model: {choice.reason}; --model {spec.id}"


def _say_default(why: str | None) -> None:
    """The default's one line on stderr, once the command has done its work (an error stays one line)."""
    if why:
        print(why, file=sys.stderr)


def cmd_models(args: argparse.Namespace) -> int:
    """The registry, each task's default marked ``*``: the one resolved for this machine as at start-up (the
    Hugging Face cache, a Hub that answers within seconds, else the offline one; see models/defaults.py), and
    why."""
    from models.catalog import default_registry
    from models.defaults import resolve_defaults
    from models.devices import pick_device

    reg = default_registry()
    specs = reg.list(args.task)
    defaults = resolve_defaults(reg, pick_device(None))
    chosen = {t.value: defaults.choice(t) for t in Task}
    rows = [
        {
            "id": s.id,
            "task": s.task.value,
            "title": s.title,
            "source": s.source.describe(),
            "license": s.license,
            "default": is_default,
            "default_why": chosen[s.task.value].why if is_default else None,
            "scale": s.scale,
            "labels": list(s.labels),
        }
        for s in specs
        for is_default in [chosen[s.task.value].spec is not None and chosen[s.task.value].spec.id == s.id]
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            mark = "*" if r["default"] else " "
            why = f"  <- default here: {r['default_why']}" if r["default"] else ""
            print(f"{mark} {r['id']:<28} {r['task']:<9} {r['title']}  [{r['source']}; {r['license']}]{why}")
    return 0


def _load(path):
    """The image at ``path``; a note on stderr for each thing of the file its results leave out (frames after
    the first, unreadable text, damaged EXIF entries)."""
    from ops.convert import load_image, load_notes

    image = load_image(path)
    for note in load_notes(path):
        print(f"note: {note}", file=sys.stderr)
    return image


@contextlib.contextmanager
def _library_noise_to_log():
    """Only the CLI's own lines reach stderr: Python warnings of the libraries (a damaged EXIF block, a malformed
    APNG) and what native decoders (libtiff, libjpeg) write to file descriptor 2 go to the log. While a command
    runs, descriptor 2 points to a temporary file and ``sys.stderr`` to a copy of the real one."""
    log = logging.getLogger("ganvas")
    sys.stderr.flush()
    real_stderr, saved = sys.stderr, os.dup(2)
    try:
        on_fd2 = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):  # a stream of its own (a test's capture): it stays
        on_fd2 = False
    with tempfile.TemporaryFile() as sink, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        os.dup2(sink.fileno(), 2)
        if on_fd2:
            sys.stderr = open(saved, "w", closefd=False)  # noqa: SIM115 - closed below, after the command
        try:
            yield
        finally:
            if on_fd2:
                sys.stderr.flush()
                sys.stderr.close()
                sys.stderr = real_stderr
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", "replace").strip()
            if text:
                log.info("native library output: %s", text)
            for w in caught:
                log.info("library warning: %s", w.message)


def _only_with(args: argparse.Namespace, switch: str, given: bool, options: dict) -> None:
    """Options that mean something only with ``switch``: refused without it (they were ignored in silence),
    else those not given take their defaults (the parser's defaults are None, to tell them apart)."""
    from core.errors import InvalidInputError

    used = ["--" + name.replace("_", "-") for name in options if getattr(args, name) is not None]
    if used and not given:
        raise InvalidInputError(f"{', '.join(used)} only appl{'y' if len(used) > 1 else 'ies'} with {switch}.")
    for name, default in options.items():
        if getattr(args, name) is None:
            setattr(args, name, default)


def _output(out: str, source: str) -> Path:
    """One output file: ``out`` itself, or ``<out>/<source's stem>.png`` when ``out`` is an existing folder
    (as upscale does); its name is checked before any work."""
    from ops.convert import check_can_save

    o = Path(out)
    if o.is_dir():
        o = o / f"{Path(source).stem}.png"
    check_can_save(o, has_alpha=False)  # the file type; alpha and bit depth are checked again on saving
    return o


def cmd_upscale(args: argparse.Namespace) -> int:
    from ops.animation import animated_suffix_check, check_animation, probe_animation, upscale_animation
    from ops.convert import check_can_save, probe_image, save_image
    from ops.formats import fit_for, format_note, output_suffix
    from ops.upscale import check_tile, upscale

    files, root = _inputs(args.inputs, args.recursive, args.output)
    batch = _is_batch(files, args.output, root)
    fmt, quality = _format_options(args, batch)
    check_tile(args.tile)
    animations = {}
    for src in files:  # every file is an image, and every animation within the limits, before minutes of work
        probe_image(src)
        if (anim := probe_animation(src)) is not None:
            check_animation(anim, args.scale)
            animations[src] = anim
    outs = _outputs(files, args.output, root, [output_suffix(f, fmt, f in animations) for f in files])
    for src, dst in zip(files, outs, strict=True):
        if src in animations:
            animated_suffix_check(dst)
    cache = _cache(args.device)
    spec, why = _spec(cache, "upscale", args.model, args.scale)
    model = _loaded(cache, spec.id)
    for src, dst in zip(files, outs, strict=True):
        note = format_note(src, fmt, src in animations) if batch else None
        if note:
            print(f"note: {note}", file=sys.stderr)
        update, close = _progress_bar(src.name)
        try:
            if src in animations:
                done = upscale_animation(
                    src,
                    model,
                    args.scale,
                    dst,
                    tile=args.tile,
                    progress=update,
                    on_estimate=lambda text: print(f"note: {text}", file=sys.stderr),
                    quality=quality,
                )
                what = f"{done.frames} frames of {done.size[0]}x{done.size[1]}"
            else:
                image = _load(src)
                if batch:
                    image, notes = fit_for(image, dst, src.name)
                    for line in notes:
                        print(f"note: {line}", file=sys.stderr)
                check_can_save(dst, image.alpha is not None, image.bit_depth)  # before minutes of upscaling
                result = upscale(image, model, args.scale, tile=args.tile, progress=update)
                save_image(result, dst, quality=quality)
                what = f"{result.width}x{result.height}"
        finally:
            close()
        print(f"{src} -> {dst} ({what}, {spec.id})")
    _say_default(why)
    return 0


def cmd_inpaint(args: argparse.Namespace) -> int:
    from ops.convert import check_can_save, save_image
    from ops.inpaint import inpaint

    cache = _cache(args.device)
    spec, why = _spec(cache, "inpaint", args.model)
    output = _output(args.output, args.image)
    image, mask = _load(args.image), _load(args.mask)
    check_can_save(output, image.alpha is not None, image.bit_depth)
    model = _loaded(cache, spec.id)
    update, close = _progress_bar(Path(args.image).name)
    try:
        res = inpaint(
            image,
            mask,
            model,
            strategy=args.strategy,
            dilate=args.dilate,
            feather=args.feather,
            margin=args.margin,
            progress=update,
        )
    finally:
        close()
    for note in res.notices:
        print(f"note: {note}", file=sys.stderr)
    save_image(res.image, output)
    print(f"{args.image} -> {output} ({spec.id})")
    _say_default(why)
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from core.errors import InvalidInputError
    from core.numbers import whole_number
    from ops import generate as gen_ops
    from ops.convert import check_folders, save_image

    if args.variations is not None and not 0 <= args.variations <= 1:
        raise InvalidInputError(f"--variations must be between 0 and 1 (got {args.variations}).")
    animation = {"label_to": None, "frames": 16, "fps": 12, "animation": "webp"}
    _only_with(args, "--interpolate-to", args.interpolate_to is not None, animation)
    if args.interpolate_to is not None:
        whole_number(args.fps, "--fps", 1, 50)
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"-o takes a folder for the generated files, and {out} is a file.")
    check_folders(out)
    cache = _cache(args.device)
    spec, why = _spec(cache, "generate", args.model)
    gen = _loaded(cache, spec.id)
    # names say what was asked for, so runs for other labels or truncations into one folder keep each other's files
    stem = gen_ops.file_stem(spec.id, gen, args.label, args.truncation)
    # everything is computed before the first file is written: a bad option leaves no half-written folder
    writes = [
        (out / f"{stem}-seed{args.seed + i}.png", img)
        for i, img in enumerate(gen_ops.sample(gen, args.seed, args.n, args.label, args.truncation))
    ]
    if args.variations is not None:
        variants = gen_ops.variations(gen, args.seed, args.n, args.label, args.variations, args.truncation)
        writes += [
            (out / f"{gen_ops.variation_stem(stem, args.seed, i, args.variations)}.png", img)
            for i, img in enumerate(variants)
        ]
    frames = None
    if args.interpolate_to is not None:
        frames = gen_ops.interpolate(
            gen, args.seed, args.interpolate_to, args.label, args.label_to or args.label, args.frames, args.truncation
        )
    out.mkdir(parents=True, exist_ok=True)
    for path, img in writes:
        save_image(img, path)
        print(path)
    if frames is not None:
        name = gen_ops.animation_stem(stem, gen, args.label, args.label_to, args.seed, args.interpolate_to)
        name += f".{args.animation}"
        print(gen_ops.save_animation(frames, out / name, fps=args.fps))
    _say_default(why)
    return 0


def cmd_composite(args: argparse.Namespace) -> int:
    from core.errors import InvalidInputError
    from ops.composite import composite, depth_composite, depth_from_image, misses_canvas, resize_notes
    from ops.convert import load_image, save_image

    _only_with(args, "--depth", args.depth, {"bg_depth": "0.6", "fg_depth": "0.4", "softness": 0.0})
    output = _output(args.output, args.background)
    bg, fg = _load(args.background), _load(args.foreground)
    mask = _load(args.mask) if args.mask else None
    place = dict(x=args.x, y=args.y, scale=args.scale, rotate=args.rotate, opacity=args.opacity)
    missed = misses_canvas(fg.size, bg.size, args.x, args.y, args.scale, args.rotate)
    if missed:
        print(f"note: {missed} Change --x and --y.", file=sys.stderr)

    def depth(value: str):
        try:
            return float(value)
        except ValueError:
            return depth_from_image(load_image(value))

    if args.depth and args.seamless:
        raise InvalidInputError("--seamless and --depth cannot be combined: choose one.")
    bg_depth, fg_depth = (depth(args.bg_depth), depth(args.fg_depth)) if args.depth else (None, None)
    for note in resize_notes(bg, fg, mask, bg_depth, fg_depth):
        print(f"note: {note}", file=sys.stderr)
    if args.depth:
        result = depth_composite(
            bg,
            fg,
            bg_depth=bg_depth,
            fg_depth=fg_depth,
            mask=mask,
            feather=args.feather,
            blend_mode=args.blend,
            softness=args.softness,
            **place,
        )
    else:
        result = composite(
            bg, fg, mask=mask, feather=args.feather, blend_mode=args.blend, seamless=args.seamless, **place
        )
    save_image(result, output)
    print(f"-> {output} ({result.width}x{result.height})")
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    from core.errors import InvalidInputError
    from ops.convert import save_image
    from ops.cutout import default_cutter
    from ops.edit import Recipe
    from ops.filter import default_filter
    from ops.inpaint import default_model_fill

    try:
        text = Path(args.recipe).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"Cannot read the recipe {args.recipe} ({exc.strerror}).") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"The recipe {args.recipe} is not text: --recipe takes a recipe JSON file (the Edit tab's recipe.json)."
        ) from exc
    recipe = Recipe.from_json(text)
    output = _output(args.output, args.input)
    models = _cache_once(args.device)
    result = recipe.apply(
        _load(args.input),
        inpaint=default_model_fill(models),
        cutter=default_cutter(models),
        gan_filter=default_filter(models),
    )
    save_image(result, output)
    print(f"{args.input} -> {output} ({len(recipe.steps)} steps)")
    return 0


def cmd_cutout(args: argparse.Namespace) -> int:
    from ops.convert import check_can_save, probe_image, save_image
    from ops.cutout import Refine, check_box, cutout, matte_image, parse_box
    from ops.formats import fit_for, format_note, output_suffix

    files, root = _inputs(args.inputs, args.recursive, args.output)
    batch = _is_batch(files, args.output, root)
    fmt, quality = _format_options(args, batch)
    box = parse_box(args.box) if args.box is not None else None
    refine = Refine(grow=args.grow, feather=args.feather)
    for src in files:  # every file is an image, and the box lies on each, before any model loads
        width, height = probe_image(src)
        if box is not None:
            check_box(box, width, height)
    outs = _outputs(files, args.output, root, [output_suffix(f, fmt) for f in files])
    for dst in outs:  # in a folder, what the type cannot hold is given up with a note instead
        check_can_save(dst, has_alpha=not args.mask_only and not batch)
    cache = _cache(args.device)
    spec = cache.registry.for_task(Task.CUTOUT, args.model)
    model = _loaded(cache, spec.id)
    for src, dst in zip(files, outs, strict=True):
        cut = cutout(_load(src), model, box, refine)
        result = matte_image(cut) if args.mask_only else cut
        notes = [n for n in [format_note(src, fmt, animated=False)] if n] if batch else []
        if batch:
            result, more = fit_for(result, dst, src.name)
            notes += more
        for line in notes:
            print(f"note: {line}", file=sys.stderr)
        save_image(result, dst, quality=quality)
        print(f"{src} -> {dst} ({'matte' if args.mask_only else 'cut-out'}, {spec.id})")
    return 0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other error
        from core.errors import quoted

        # argparse quotes a refused value whole: cut it, as every other message does
        message = re.sub(r"'([^']{60,})'", lambda m: quoted(m.group(1)), message)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


_MODEL_HELP = (
    "a model id from `cli.py models --task {task}` (default: env {env}, else the best model available: "
    "one in the Hugging Face cache, else from a reachable Hub, else the offline one)"
)


def _batch_options(parser: argparse.ArgumentParser) -> None:
    """--format, --quality and --recursive: how a folder's outputs are written."""
    from ops.formats import DEFAULT_QUALITY, FORMATS

    parser.add_argument(
        "--format",
        choices=FORMATS,
        help="with -o a folder: keep each input's file type, or write all as png, jpg or webp (default: png, an "
        "animation its own kind); EXIF and ICC are kept, transparency in a jpg is flattened onto white (with a note)",
    )
    parser.add_argument(
        "--quality",
        type=int,
        help=f"JPEG / WebP quality 1-100 (default {DEFAULT_QUALITY} in a folder; a single .jpg gets 95, a .webp is "
        "lossless; 100 = lossless WebP)",
    )
    parser.add_argument(
        "--recursive", action="store_true", help="a folder's subfolders too; the output folder keeps the tree"
    )


def build_parser() -> argparse.ArgumentParser:
    from ops.defaults import BLEND_MODES, DEFAULT_COUNT, DEFAULT_DILATE, DEFAULT_FEATHER

    p = _Parser(prog="cli.py", description="Ganvas image studio on the command line.")
    p.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: best available; env GANVAS_DEVICE)")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    m = sub.add_parser("models", help="list the registered models (* = each task's default on this machine)")
    m.add_argument("--task", choices=[t.value for t in Task], help="only the models for this task")
    m.add_argument(
        "--json",
        action="store_true",
        help="a JSON list (id, task, title, license, source, labels, ...) instead of a table",
    )
    m.set_defaults(fn=cmd_models)

    u = sub.add_parser("upscale", help="upscale files or a folder")
    u.add_argument("inputs", nargs="+", help="image files or a folder (an animated GIF, WebP or APNG: every frame)")
    u.add_argument(
        "-o", "--output", required=True, help="output file, or a folder (NAME.png for each input; see --format)"
    )
    u.add_argument("--model", help=_MODEL_HELP.format(task="upscale", env="GANVAS_UPSCALE_MODEL"))
    u.add_argument(
        "--scale",
        type=float,
        default=4.0,
        help="output scale, 1-8 (the model's own, then an exact resample; default 4)",
    )
    u.add_argument("--tile", type=int, default=None, help="tile size in pixels (default or 0: automatic)")
    _batch_options(u)
    u.set_defaults(fn=cmd_upscale)

    i = sub.add_parser("inpaint", help="fill the masked region (mask: white = fill)")
    i.add_argument("image", help="the photo (16-bit, alpha and EXIF are kept)")
    i.add_argument(
        "mask", help="white = fill (brighter than mid-grey, or painted where it has transparency); resized to the photo"
    )
    i.add_argument("-o", "--output", required=True, help="output file, or an existing folder (NAME.png in it)")
    i.add_argument("--model", help=_MODEL_HELP.format(task="inpaint", env="GANVAS_INPAINT_MODEL"))
    i.add_argument(
        "--strategy",
        choices=["crop", "resize", "original"],
        default="crop",
        help="big images: work around each masked region at full resolution (crop, the default), on a resized "
        "copy, or on the whole image",
    )
    i.add_argument("--dilate", type=int, default=DEFAULT_DILATE, help="grow the mask by this many pixels (as the app)")
    i.add_argument("--feather", type=int, default=DEFAULT_FEATHER, help="blend width inside the mask edge, pixels")
    i.add_argument("--margin", type=int, default=128, help="context around each masked region with crop, pixels")
    i.set_defaults(fn=cmd_inpaint)

    g = sub.add_parser("generate", help="write N generated PNGs into a folder")
    g.add_argument("-o", "--output", required=True, help="output folder")
    g.add_argument("--model", help=_MODEL_HELP.format(task="generate", env="GANVAS_GENERATE_MODEL"))
    g.add_argument("--label", help="label name (any case, or a part that names one label) or index")
    g.add_argument(
        "--seed", type=int, default=0, help="first seed, 0-4294967295; the same seed gives the same pixels (default 0)"
    )
    g.add_argument(
        "--n", "--count", type=int, default=DEFAULT_COUNT, help="number of images (1-16, default %(default)s)"
    )
    g.add_argument(
        "--truncation",
        type=float,
        default=1.0,
        help="0.02-1 where the model has it: lower = more typical, less varied images (default 1)",
    )
    g.add_argument("--interpolate-to", type=int, default=None, help="also write an animation to this seed")
    g.add_argument("--label-to", help="label at the end of the animation")
    g.add_argument("--frames", type=int, help="frames of the animation (2-64, default 16)")
    g.add_argument("--fps", type=int, help="animation speed (1-50 frames per second, default 12)")
    g.add_argument("--animation", choices=["webp", "gif"], help="animated WebP (lossless, alpha; the default) or GIF")
    g.add_argument(
        "--variations",
        type=float,
        metavar="STRENGTH",
        help="also write N variations of the seed (0 = the seed's image, 1 = unrelated; the app uses 0.3)",
    )
    g.set_defaults(fn=cmd_generate)

    c = sub.add_parser("composite", help="composite a foreground onto a background")
    c.add_argument("background", help="the image to composite onto (its size, alpha and metadata are kept)")
    c.add_argument("foreground", help="the layer (a PNG with transparency works best)")
    c.add_argument("-o", "--output", required=True, help="output file, or an existing folder (BACKGROUND.png in it)")
    c.add_argument("--mask", help="an image for the foreground: white = keep, black = drop")
    c.add_argument("--x", type=int, default=0, help="left edge of the placed (scaled, rotated) layer, pixels")
    c.add_argument("--y", type=int, default=0, help="top edge of the placed layer, pixels")
    c.add_argument("--scale", type=float, default=1.0, help="layer scale, greater than 0 (default 1)")
    c.add_argument("--rotate", type=float, default=0.0, help="layer rotation, degrees counter-clockwise")
    c.add_argument("--opacity", type=float, default=1.0, help="0-1 (default 1)")
    c.add_argument("--feather", type=float, default=0.0, help="soften the layer's edge inwards, pixels")
    c.add_argument("--blend", default="normal", help="blend mode: " + ", ".join(BLEND_MODES))
    c.add_argument("--seamless", action="store_true", help="Poisson (seamless) cloning of the layer")
    c.add_argument("--depth", action="store_true", help="depth compositing (nearer pixel wins)")
    c.add_argument("--bg-depth", help="with --depth: constant (0 = near; default 0.6) or a depth-map image")
    c.add_argument("--fg-depth", help="with --depth: constant (default 0.4) or a depth-map image for the layer")
    c.add_argument(
        "--softness", type=float, help="with --depth: width of the transition, in depth units (default 0 = hard)"
    )
    c.set_defaults(fn=cmd_composite)

    e = sub.add_parser("edit", help="replay an edit recipe exported by the app")
    e.add_argument("input", help="the image to edit")
    e.add_argument("-o", "--output", required=True, help="output file, or an existing folder (INPUT.png in it)")
    e.add_argument("--recipe", required=True, help="a recipe JSON file (the edit tab's recipe.json)")
    e.set_defaults(fn=cmd_edit)

    x = sub.add_parser("cutout", help="cut the foreground out: RGBA PNGs with the background transparent")
    x.add_argument("inputs", nargs="+", help="image files or folders")
    x.add_argument("-o", "--output", required=True, help="output file, or a folder (NAME.png for each input)")
    x.add_argument("--model", help=_MODEL_HELP.format(task="cutout", env="GANVAS_CUTOUT_MODEL"))
    x.add_argument("--box", help="X,Y,WIDTH,HEIGHT in pixels around the object (default: the whole image)")
    x.add_argument("--mask-only", action="store_true", help="write the matte as a grey PNG (white = object)")
    x.add_argument("--grow", type=int, default=0, help="grow the matte by N pixels (negative shrinks; default 0)")
    x.add_argument("--feather", type=float, default=0.0, help="soften the matte's edge by N pixels (default 0)")
    _batch_options(x)
    x.set_defaults(fn=cmd_cutout)
    return p


def _log_to(path: str | None) -> None:
    """The details behind a one-line message (a decoder's own words, library warnings) go to the file that
    ``GANVAS_LOG`` names, else nowhere: the terminal shows the CLI's own lines only."""
    root = logging.getLogger()
    if root.handlers:
        return
    root.addHandler(logging.FileHandler(path, encoding="utf-8") if path else logging.NullHandler())
    root.setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _log_to(os.environ.get("GANVAS_LOG"))
    from core.errors import GanvasError, OutOfMemoryError, is_out_of_memory

    try:
        with _library_noise_to_log():
            return args.fn(args)
    except GanvasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the system refused a file: its reason in words, without the error number
        logging.getLogger("ganvas").info("%s failed: %r", args.command, exc)
        print(f"error: {_refused(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:
        if is_out_of_memory(exc):  # torch says so with a RuntimeError and the allocator's text
            print(f"error: {OutOfMemoryError()}", file=sys.stderr)
            return 2
        # a fault of Ganvas, not of the input: the traceback goes to the log, one line to the terminal
        logging.getLogger("ganvas").exception("%s failed", args.command)
        print(
            f"error: Something went wrong in Ganvas with this {args.command}; the details are in the log "
            "(GANVAS_LOG=FILE keeps it). Try other settings or another image.",
            file=sys.stderr,
        )
        return 2


def _refused(exc: OSError) -> str:
    """An error of the system about a file, as a sentence: what was refused, and why."""
    reason = (exc.strerror or "the system refused it").lower()
    name = str(exc.filename or "")
    if not name:
        return f"The system refused: {reason}."
    return f"Cannot use {name if len(name) <= 200 else name[:199] + '…'}: {reason}."


if __name__ == "__main__":
    sys.exit(main())
