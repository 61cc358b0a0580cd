#!/usr/bin/env python3
"""Make the clustering robustness sets (cluster/README.md) from the shared data, deterministically.

Clustering defaults chosen on one kind of photo must hold on others. These sets change one
property of the shared LFW people (everyone with >= MIN_IMAGES photos) at a time, and keep
the layout the bench's clustering task reads (`<set>/images/<Name>/<file>`):

  lfw-tight64 / lfw-tight90 / lfw-tight112
      the face re-cropped tight: the square [60, 190) x [60, 190) of the 250x250 funneled
      photo (the face box YuNet finds there is ~105 x 140 px at about (87, 56)), resized to
      64, 90 or 112 px with INTER_AREA; JPEG q95. Small, tight faces, as in group photos.
  lfw-crop90    tighter still: the square [80, 170) at the photo's own resolution (90 px, the
                face fills the frame; its box is cut at the chin and brow), JPEG q95: "tight
                crops about 90 px wide".
  lfw-jpeg30    the whole photo re-encoded at JPEG quality 30 (block artefacts).
  lfw-blur      the whole photo blurred: GaussianBlur, kernel 0 (from sigma), sigma 2.5 px;
                JPEG q95 (about the detail of a 60 px face).
  lfw-mixed     the held-out check: several changes at once, each photo its own draw (a
                generator seeded by the sha256 of "<Name>/<file>"): turned by -12..12 degrees,
                a square crop of 110..200 px around a centre moved by up to 15 px (so the
                face's scale and place differ from every other set), mirrored half the time,
                contrast x0.7..1.3 and brightness -30..30, resized to 72..160 px, then JPEG
                encoded twice (quality 40..75, then 60..90). Made to resemble photos the
                defaults were not chosen on: no default is chosen on it (config/bench.toml
                lists it under the clustering task's `checks`, which the report keeps out of
                the worst case).
  bbt-colour / bbt-grey
      greyscale versus colour. The shared LFW is greyscale already, so every LFW variant is
      grey; the only labelled colour faces in the shared data are samples/bbt/people (8 people
      x 5 crops of 150 px). bbt-colour is those PNGs copied byte for byte, bbt-grey the same
      crops through cv2.cvtColor(BGR2GRAY) written as 3-channel PNG. Only 40 faces: a check
      that colour and grey cluster alike, not a precision figure.

Every output is a pure function of the input bytes and the OpenCV build (no randomness, no
timestamps). OUT/<set>/MANIFEST.json holds {"set", "source", "recipe", "opencv_version",
"images", "files": {relpath: sha256}}; OUT/MANIFEST.json maps each set to the sha256 of its
MANIFEST.json. Idempotent: a set whose MANIFEST.json has the same recipe and whose files are
all present is left alone. Refuses to write inside this repository. The last stdout line is
the absolute output folder.

  /root/.cache/facelab/py-venv/bin/python benches/python/make_robustness_sets.py
  # -> ~/.cache/facelab/datasets/robustness/{lfw-tight64,...,bbt-grey}

Exit code: 0 ok, 1 a photo could not be read or written, 2 bad arguments or paths.
"""

import argparse
import hashlib
import json
import os
import shutil
import sys

import cv2
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MIN_IMAGES = 5
CROP = (60, 190)  # tight square on the 250x250 funneled LFW photo, [lo, hi) on both axes
CROP90 = (80, 170)  # tighter: 90 px at the photo's own resolution, the face fills the frame

LFW_SETS = {
    "lfw-tight64": {"crop": CROP, "size": 64, "quality": 95},
    "lfw-tight90": {"crop": CROP, "size": 90, "quality": 95},
    "lfw-tight112": {"crop": CROP, "size": 112, "quality": 95},
    "lfw-crop90": {"crop": CROP90, "size": 90, "quality": 95},
    "lfw-jpeg30": {"quality": 30},
    "lfw-blur": {"blur_sigma": 2.5, "quality": 95},
    "lfw-mixed": {"mixed": {"turn": 12, "crop": [110, 200], "shift": 15, "mirror": 0.5,
                            "contrast": [0.7, 1.3], "brightness": 30, "size": [72, 160],
                            "quality": [[40, 75], [60, 90]]}},
}
BBT_SETS = {"bbt-colour": {"grey": False}, "bbt-grey": {"grey": True}}


class Fail(Exception):
    def __init__(self, msg, code=2):
        super().__init__(msg)
        self.code = code


def default_src():
    shared = os.environ.get("FACELAB_SHARED")
    base = os.path.join(shared, "datasets") if shared else os.path.join(REPO, "..", "shared", "datasets")
    return os.path.abspath(base)


def lfw_people(src):
    root = os.path.join(src, "lfw", "images")
    if not os.path.isdir(root):
        raise Fail(f"{root} is missing (help: point --src at the shared datasets folder)")
    out = []
    for person in sorted(os.listdir(root)):
        d = os.path.join(root, person)
        if not os.path.isdir(d):
            continue
        files = sorted(f for f in os.listdir(d) if f.lower().endswith(".jpg"))
        if len(files) >= MIN_IMAGES:
            out += [(person, f, os.path.join(d, f)) for f in files]
    return out


def bbt_people(src):
    root = os.path.join(src, "samples", "bbt", "people")
    if not os.path.isdir(root):
        raise Fail(f"{root} is missing (help: point --src at the shared datasets folder)")
    out = []
    for person in sorted(os.listdir(root)):
        d = os.path.join(root, person)
        if os.path.isdir(d):
            out += [(person, f, os.path.join(d, f)) for f in sorted(os.listdir(d)) if f.endswith(".png")]
    return out


def mixed_variant(img, m, key):
    """Several changes at once, drawn for this photo by a generator seeded from `key`."""
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little"))
    h, w = img.shape[:2]
    cx = w / 2 + rng.uniform(-m["shift"], m["shift"])
    cy = h / 2 + rng.uniform(-m["shift"], m["shift"])
    turn = cv2.getRotationMatrix2D((cx, cy), rng.uniform(-m["turn"], m["turn"]), 1.0)
    img = cv2.warpAffine(img, turn, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    side = rng.uniform(*m["crop"])
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    x0, y0 = max(0, min(w - int(side), x0)), max(0, min(h - int(side), y0))
    img = img[y0:y0 + int(side), x0:x0 + int(side)]
    if rng.uniform() < m["mirror"]:
        img = cv2.flip(img, 1)
    img = cv2.convertScaleAbs(img, alpha=rng.uniform(*m["contrast"]),
                              beta=rng.uniform(-m["brightness"], m["brightness"]))
    s = int(rng.integers(m["size"][0], m["size"][1] + 1))
    img = cv2.resize(img, (s, s), interpolation=cv2.INTER_AREA if s < img.shape[0] else cv2.INTER_LINEAR)
    for lo, hi in m["quality"]:
        q = int(rng.integers(lo, hi + 1))
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])
        if not ok:
            raise Fail("JPEG encoding failed", 1)
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return buf.tobytes()


def lfw_variant(img, recipe, key):
    if "mixed" in recipe:
        return mixed_variant(img, recipe["mixed"], key)
    if "crop" in recipe:
        lo, hi = recipe["crop"]
        img = img[lo:hi, lo:hi]
        s = recipe["size"]
        img = cv2.resize(img, (s, s), interpolation=cv2.INTER_AREA)
    if "blur_sigma" in recipe:
        img = cv2.GaussianBlur(img, (0, 0), recipe["blur_sigma"])
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, recipe["quality"]])
    if not ok:
        raise Fail("JPEG encoding failed", 1)
    return buf.tobytes()


def bbt_variant(path, recipe):
    if not recipe["grey"]:
        with open(path, "rb") as f:
            return f.read()
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise Fail(f"{path}: cannot read", 1)
    grey = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    ok, buf = cv2.imencode(".png", grey)
    if not ok:
        raise Fail("PNG encoding failed", 1)
    return buf.tobytes()


def up_to_date(out, name, recipe):
    try:
        with open(os.path.join(out, name, "MANIFEST.json")) as f:
            m = json.load(f)
    except (OSError, ValueError):
        return False
    if m.get("recipe") != recipe or m.get("opencv_version") != cv2.__version__:
        return False
    return all(os.path.isfile(os.path.join(out, name, p)) for p in m.get("files", {}))


def write_set(out, name, source, recipe, items, make):
    if up_to_date(out, name, json.loads(json.dumps(recipe))):
        print(f"{name}: up to date", file=sys.stderr)
        return
    tmp = os.path.join(out, f"{name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    files = {}
    for i, (person, file, path) in enumerate(items):
        data = make(path)
        rel = os.path.join("images", person, file)
        os.makedirs(os.path.join(tmp, "images", person), exist_ok=True)
        with open(os.path.join(tmp, rel), "wb") as f:
            f.write(data)
        files[rel] = hashlib.sha256(data).hexdigest()
        if (i + 1) % 1000 == 0:
            print(f"{name}: {i + 1}/{len(items)}", file=sys.stderr, flush=True)
    manifest = {
        "set": name,
        "source": source,
        "recipe": recipe,
        "opencv_version": cv2.__version__,
        "images": len(files),
        "files": files,
    }
    with open(os.path.join(tmp, "MANIFEST.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    final = os.path.join(out, name)
    if os.path.exists(final):
        if not os.path.isfile(os.path.join(final, "MANIFEST.json")):
            raise Fail(f"{final} exists and was not made by this script (no MANIFEST.json): move it away")
        shutil.rmtree(final)
    os.rename(tmp, final)
    print(f"{name}: {len(files)} images", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default=default_src(), help="the shared datasets folder")
    ap.add_argument("--out", default=os.path.expanduser("~/.cache/facelab/datasets/robustness"))
    ap.add_argument("--only", action="append", help="make only this set (repeatable)")
    a = ap.parse_args()
    out = os.path.abspath(a.out)
    if os.path.commonpath([out, REPO]) == REPO:
        raise Fail(f"{out} is inside the repository {REPO}: write the sets to a cache folder")
    os.makedirs(out, exist_ok=True)
    wanted = set(a.only or list(LFW_SETS) + list(BBT_SETS))
    unknown = wanted - set(LFW_SETS) - set(BBT_SETS)
    if unknown:
        raise Fail(f"unknown set(s) {sorted(unknown)}; known: {list(LFW_SETS) + list(BBT_SETS)}")
    src = os.path.abspath(a.src)
    if wanted & set(LFW_SETS):
        lfw = lfw_people(src)
        for name, recipe in LFW_SETS.items():
            if name not in wanted:
                continue

            def make(path, recipe=recipe):
                key = "/".join(path.replace(os.sep, "/").split("/")[-2:])
                img = cv2.imread(path, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
                if img is None:
                    raise Fail(f"{path}: cannot read", 1)
                return lfw_variant(img, recipe, key)

            write_set(out, name, "lfw/images", recipe, lfw, make)
    if wanted & set(BBT_SETS):
        bbt = bbt_people(src)
        for name, recipe in BBT_SETS.items():
            if name in wanted:
                write_set(out, name, "samples/bbt/people", recipe, bbt,
                          lambda p, recipe=recipe: bbt_variant(p, recipe))
    top = {}
    for name in sorted(os.listdir(out)):
        m = os.path.join(out, name, "MANIFEST.json")
        if os.path.isfile(m):
            with open(m, "rb") as f:
                top[name] = hashlib.sha256(f.read()).hexdigest()
    with open(os.path.join(out, "MANIFEST.json"), "w") as f:
        json.dump(top, f, indent=1, sort_keys=True)
    print(out)


if __name__ == "__main__":
    try:
        main()
    except Fail as e:
        print(f"make_robustness_sets: {e}", file=sys.stderr)
        sys.exit(e.code)
