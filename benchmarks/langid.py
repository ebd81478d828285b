"""Language ID by text length: fastText lid.176 vs lingua (low- and high-accuracy modes).

Texts: lingua's test sentences (`langid/lingua/sentences.jsonl.gz`, 75 languages; a fixed sample per language),
cut to their first 1, 2 and 5 words (caption length) and whole; plus the COCO captions of `images/coco_mini`
(real English captions: the share each engine calls English, and the share the recipes' `min_score: 0.5` keeps).
Prints accuracy (top language = label) per engine and length, and texts per CPU-second.

    .venv/bin/python benchmarks/langid.py [--per-language 40] [--engines fasttext,lingua,lingua_high]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import time
from collections import defaultdict
from pathlib import Path

import pyarrow as pa

from curation.ops.lang import LanguageId

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
LENGTHS = {"1 word": 1, "2 words": 2, "5 words": 5, "sentence": None}


def sentences(per_language: int, shared: Path = SHARED, seed: int = 0) -> list[tuple[str, str]]:
    """(language, sentence) pairs: `per_language` sentences of each language, drawn with a fixed seed."""
    by_lang: dict[str, list[str]] = defaultdict(list)
    with gzip.open(shared / "langid" / "lingua" / "sentences.jsonl.gz", "rt") as f:
        for line in f:
            row = json.loads(line)
            by_lang[row["lang"]].append(row["text"])
    rng = random.Random(seed)
    return [(lang, s) for lang in sorted(by_lang) for s in rng.sample(by_lang[lang], per_language)]


def cut(text: str, words: int | None) -> str:
    return text if words is None else " ".join(text.split()[:words])


def coco_captions(shared: Path = SHARED) -> list[str]:
    out = []
    for name in ("captions_train2017.json", "captions_val2017.json"):
        with open(shared / "images" / "coco_mini" / "annotations" / name) as f:
            out += [a["caption"].strip() for a in json.load(f)["annotations"]]
    return out


def run(op: LanguageId, texts: list[str]) -> tuple[list[str], list[float], float]:
    """(languages, scores, CPU seconds) of one engine over `texts`."""
    t0 = time.process_time()
    out = op.evaluate(pa.table({op.column: texts}))
    return out.column("lang").to_pylist(), out.column("lang_score").to_pylist(), time.process_time() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-language", type=int, default=40)
    ap.add_argument("--engines", default="fasttext,lingua,lingua_high")
    args = ap.parse_args()
    pairs = sentences(args.per_language)
    captions = coco_captions()
    print(f"{len(pairs)} sentences ({args.per_language} per language), {len(captions)} COCO captions")
    print("| engine | load s | " + " | ".join(LENGTHS) + " | texts per CPU s |")
    print("|---|---|" + "---|" * (len(LENGTHS) + 1))
    english_filter = []
    for engine in args.engines.split(","):
        op = LanguageId(engine=engine, keep=[], min_score=0.0)
        t0 = time.perf_counter()
        op.setup()
        load = time.perf_counter() - t0
        cells, cpu, n, foreign = [], 0.0, 0, {}
        for length, words in LENGTHS.items():
            texts = [cut(s, words) for _, s in pairs]
            langs, scores, sec = run(op, texts)
            cells.append(
                f"{sum(lg == lang for lg, (lang, _) in zip(langs, pairs, strict=True)) / len(pairs):.1%}"
            )
            foreign[length] = [
                (lg, sc) for lg, sc, (lang, _) in zip(langs, scores, pairs, strict=True) if lang != "en"
            ]
            cpu, n = cpu + sec, n + len(texts)
        langs, scores, sec = run(op, captions)
        cpu, n = cpu + sec, n + len(captions)
        print(f"| {engine} | {load:.1f} | " + " | ".join(cells) + f" | {n / cpu:.0f} |")
        for min_score in (0.0, 0.5):
            kept = sum(lg == "en" and sc >= min_score for lg, sc in zip(langs, scores, strict=True)) / len(
                captions
            )
            wrong = [
                sum(lg == "en" and sc >= min_score for lg, sc in foreign[length]) / len(foreign[length])
                for length in ("2 words", "5 words")
            ]
            english_filter.append(
                f"| {engine} | {min_score} | {kept:.1%} | {wrong[0]:.2%} | {wrong[1]:.2%} |"
            )
    print("\nEnglish filter (keep: [en]) on caption-length text")
    print("| engine | min_score | COCO captions kept | non-English 2 words kept | non-English 5 words kept |")
    print("|---|---|---|---|---|")
    print("\n".join(english_filter))


if __name__ == "__main__":
    main()
