#!/usr/bin/env python3
"""A View-2-shaped pairs.txt for a robustness variant of LFW, to check a recognizer threshold off the set it was chosen on.

The variants (benches/python/make_robustness_sets.py) hold only the people with 5 or more
images, so most of View 2's different-person pairs are missing. Each fold keeps its
same-person pairs whose images exist (cut to the smallest fold's count, k) and gets k
different-person pairs drawn among the variant's people with seed 0. Writes ROOT/pairs.txt
and links ROOT/images to the variant's images; then
`facelab --config C eval-lfw ROOT --json` prints the threshold that is best on it.

    python3 benches/python/lfw_variant_pairs.py ../shared/datasets/lfw \
        ~/.cache/facelab/datasets/robustness/lfw-jpeg30 /tmp/held-lfw-jpeg30
"""
import os
import random
import sys


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    lfw, variant, root = sys.argv[1:]
    images = os.path.join(variant, "images")
    lines = [l.split() for l in open(os.path.join(lfw, "pairs.txt")).read().splitlines()[1:] if l.strip()]

    def path(name, n):
        return os.path.join(images, name, f"{name}_{int(n):04d}.jpg")

    people = sorted(os.listdir(images))
    numbers = {n: sorted(int(f[-8:-4]) for f in os.listdir(os.path.join(images, n))) for n in people}
    folds = []
    for f in range(10):
        fold = lines[f * 600:f * 600 + 300]
        folds.append([t for t in fold if len(t) == 3 and os.path.exists(path(t[0], t[1])) and os.path.exists(path(t[0], t[2]))])
    k = min(len(s) for s in folds)
    rng = random.Random(0)
    out = [f"10 {k}"]
    for same in folds:
        out += [" ".join(t) for t in same[:k]]
        for _ in range(k):
            a, b = rng.sample(people, 2)
            out.append(f"{a} {rng.choice(numbers[a])} {b} {rng.choice(numbers[b])}")
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "pairs.txt"), "w") as fh:
        fh.write("\n".join(out) + "\n")
    link = os.path.join(root, "images")
    if not os.path.lexists(link):
        os.symlink(os.path.abspath(images), link)
    print(f"{root}: 10 folds of {k} same and {k} different pairs")


if __name__ == "__main__":
    main()
