#!/usr/bin/env python3
"""ORL identification from `facelab embed --json` output, with no whole-frame fallback.

    facelab --config config/examples/yunet-mobilefacenet.toml embed --json \
        ../shared/datasets/orl/s*/*.pgm > orl.json
    python3 benches/python/orl_from_embed.py orl.json

Each photo's largest detected face is its embedding; a photo without a face counts as wrong.
Tags `--tagged` of each subject's 10 photos (seeded splits, like `facelab eval-orl`) and
predicts the rest by the nearest class centroid (cosine). Standard library only.
"""
import argparse, json, math, random, re, sys

ap = argparse.ArgumentParser()
ap.add_argument("embed_json")
ap.add_argument("--tagged", type=float, default=0.2)
ap.add_argument("--splits", type=int, default=10)
a = ap.parse_args()
doc = json.load(open(a.embed_json))
by_subject, missing = {}, 0
for p in doc["photos"]:
    m = re.search(r"/s(\d+)/(\d+)\.pgm$", p["path"])
    if not m:
        continue
    faces = [f for f in p.get("faces", []) if f.get("embedding")]
    if not faces:
        missing += 1
        emb = None
    else:
        f = max(faces, key=lambda f: f["face"]["width"] * f["face"]["height"])
        v = f["embedding"]
        n = math.sqrt(sum(x * x for x in v)) or 1.0
        emb = [x / n for x in v]
    by_subject.setdefault(int(m.group(1)), []).append(emb)
photos = sum(len(v) for v in by_subject.values())
per = max(1, round(a.tagged * 10))
accs = []
for seed in range(a.splits):
    rng = random.Random(seed)
    cents, tests = {}, []
    for s, embs in by_subject.items():
        idx = list(range(len(embs)))
        rng.shuffle(idx)
        tagged = [embs[i] for i in idx[:per] if embs[i] is not None]
        if tagged:
            c = [sum(col) for col in zip(*tagged)]
            n = math.sqrt(sum(x * x for x in c)) or 1.0
            cents[s] = [x / n for x in c]
        tests += [(s, embs[i]) for i in idx[per:]]
    right = 0
    for s, e in tests:
        if e is None:
            continue
        best = max(cents, key=lambda k: sum(x * y for x, y in zip(cents[k], e)))
        right += best == s
    accs.append(right / len(tests))
mean = sum(accs) / len(accs)
sd = math.sqrt(sum((x - mean) ** 2 for x in accs) / max(1, len(accs) - 1))
print(f"faces found {photos - missing} of {photos}; {per} of 10 tagged: {100 * mean:.2f}% ± {100 * sd:.2f} (nearest centroid, {a.splits} splits, no fallback)")
