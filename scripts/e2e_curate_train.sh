#!/usr/bin/env bash
# From an img2dataset pool to a trained VLM that plain transformers loads, with nothing but the two CLIs:
#   pool -> curate run datacomp_basic (stage-1 pairs) -> curate run llava_instruct (stage-2 conversations)
#        -> curate run preference (stage-3 pairs) -> train launch align -> instruct -> dpo -> train export
#        -> LlavaForConditionalGeneration generates from an image.
# Offline, with the tiny random models of `python -m training.toy` (an HF CLIP tower, so the export has an HF
# LLaVA folder). Usage: scripts/e2e_curate_train.sh WORKDIR [POOL.parquet] [EVAL_CAPTIONS.json]
# Defaults read ../shared/data (the third-party data folder next to the repo).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mkdir -p "$1" && cd "$1" && pwd)"
SHARED="${MMCURATE_SHARED_DATA:-$REPO/../shared/data}"
POOL="${2:-$SHARED/images/pairs_sample.parquet}"
EVAL="${3:-$SHARED/images/coco_mini/annotations/captions_val2017.json}"
PY="${PYTHON:-$REPO/.venv/bin/python}"
STEPS="${E2E_STEPS:-4}"
export DS_ACCELERATOR=cpu OMP_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
cd "$WORK"
curate() { "$PY" -m curation.cli "$@"; }
train() { "$PY" -m training.cli "$@"; }

echo "== tiny models (tokenizer + Qwen2 LM, HF CLIP tower) -> $WORK/toy, built while stage 1 curates"
"$PY" -m training.toy toy >/dev/null &
TOY=$!

echo "== stage-1 pairs: curate run datacomp_basic on $POOL"
curate run "$REPO/pipelines/datacomp_basic.yaml" --input "$POOL" --output pairs --overwrite
wait "$TOY"  # stage 1 needs no model; its exit status stops the script here if the build failed
# what conversation_validate must share with the training configs: tokenizer, image tokens, max length
NUM_PATCHES="$("$PY" -c 'import json; c = json.load(open("toy/hf_clip/config.json")); print((c["image_size"] // c["patch_size"]) ** 2)')"
VALIDATE="{tokenizer: toy/lm, num_patches: $NUM_PATCHES, max_length: 96}"
echo "== stage-2 conversations: curate run llava_instruct"
curate run "$REPO/pipelines/llava_instruct.yaml" --input 'pairs/data/*.parquet' --output conversations --overwrite \
  --set "steps[1].conversation_validate=$VALIDATE" --set "steps[3].decontaminate.eval_paths=[$EVAL]"
echo "== stage-3 preference pairs: curate run preference"
curate run "$REPO/pipelines/preference.yaml" --input 'pairs/data/*.parquet' --output preferences --overwrite \
  --set "steps[2].conversation_validate=$VALIDATE" --set "steps[4].decontaminate.eval_paths=[$EVAL]"
curate report preferences >/dev/null

CONFIGS="$REPO/training/configs"
VISION="model.vision={source: hf, name: toy/hf_clip, pretrained: null, layer: -2}"
COMMON=(--num-gpus 1 "train.max_steps=$STEPS" "checkpoint.every=$STEPS" "logging.tensorboard=false")
echo "== train launch align / instruct / dpo"
train launch "$CONFIGS/tiny_align.yaml" "${COMMON[@]}" "$VISION" output_dir=runs/align \
  "data.sources=[{path: $WORK/pairs}]"
train launch "$CONFIGS/tiny_instruct.yaml" "${COMMON[@]}" "$VISION" output_dir=runs/instruct \
  model.projector.checkpoint=runs/align/handoff deepspeed.zero_stage=2 \
  "data.sources=[{path: $WORK/conversations}]" "data.eval.sources=[]"
train launch "$CONFIGS/tiny_dpo.yaml" "${COMMON[@]}" output_dir=runs/dpo model.init_from=runs/instruct/handoff \
  "data.sources=[{path: $WORK/preferences}]"
train export runs/dpo export

echo "== the exported model in plain transformers"
"$PY" - "$WORK" <<'EOF'
import io
import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import torch
from PIL import Image
from transformers import AutoProcessor, LlavaForConditionalGeneration

work = Path(sys.argv[1])
for run in ("align", "instruct", "dpo"):  # the trainer dropped nothing from the curated shards
    rows = [json.loads(line) for line in (work / "runs" / run / "metrics.jsonl").read_text().splitlines()]
    drops = {k: v for r in rows for k, v in r.items() if k.startswith("dropped_") and v}
    print(f"{run}: {len(rows)} steps, trainer drops {drops or 'none'}")
    assert not drops, f"{run}: the trainer dropped curated rows {drops}"
shard = sorted((work / "conversations" / "data").glob("*.parquet"))[0]
row = pq.read_table(shard).slice(0, 1).to_pylist()[0]
model = LlavaForConditionalGeneration.from_pretrained(work / "export" / "llava").eval()
processor = AutoProcessor.from_pretrained(work / "export" / "llava")
prompt = processor.tokenizer.apply_chat_template(row["messages"][:1], tokenize=False, add_generation_prompt=True)
image = Image.open(io.BytesIO(row["images"][0])).convert("RGB")
inputs = processor(images=image, text=prompt, return_tensors="pt")
with torch.no_grad():
    out = model.generate(**inputs, max_new_tokens=8, do_sample=False)
new = out[0, inputs["input_ids"].shape[1] :]
assert len(new) > 0
print("generated:", repr(processor.tokenizer.decode(new, skip_special_tokens=True)))
EOF
echo "== done: $WORK"
