#!/usr/bin/env python3
"""The bare forward passes of the scan's two models, one thread, as docs/speed.md quotes them.

YuNet-s (dynamic input) over every photo of a folder at its own size, padded to a multiple of
32 as facelab's ONNX Runtime plugin does, and MobileFaceNet on random 112x112 crops at batch 1
and 8. Only the `session.run` calls are timed. `--max-side 1280` runs YuNet at
the scan's input size for camera-size photos. Two copies started at once show what each pass
costs while both cores work, as in a scan. Run it in the quant venv (docs/speed.md):

    $PY benches/python/bare_forward.py --yunet ~/.cache/facelab/models/yunet-s-dynamic/yunet_s_dynamic.onnx \
        --mobilefacenet ~/.cache/facelab/models/mobilefacenet-128/MobileFaceNet.onnx \
        ../shared/datasets/wider-face-val-mini/images
"""
import argparse
import pathlib
import time

import cv2
import numpy as np
import onnxruntime as ort


def session(path):
    o = ort.SessionOptions()
    o.intra_op_num_threads = 1
    o.inter_op_num_threads = 1
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    o.enable_mem_pattern = False
    return ort.InferenceSession(str(path), o, providers=["CPUExecutionProvider"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--yunet", required=True)
    ap.add_argument("--mobilefacenet", required=True)
    ap.add_argument("--edgeface", help="also time EdgeFace-S (edgeface-s-512's .onnx), one face a run: "
                                       "its export hard-codes batch 1")
    ap.add_argument("--repeats", type=int, default=20, help="embedder runs per batch size")
    ap.add_argument("--max-side", type=int, default=0,
                    help="scale each photo down to this long side first, as the scan's detector input "
                         "(1280 for camera-size photos; 0 keeps the photo's own size)")
    ap.add_argument("folder")
    a = ap.parse_args()

    det = session(a.yunet)
    name = det.get_inputs()[0].name
    photos = sorted(p for p in pathlib.Path(a.folder).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    total = 0.0
    for p in photos:
        im = cv2.imread(str(p))
        h, w = im.shape[:2]
        if a.max_side and max(h, w) > a.max_side:
            f = a.max_side / max(h, w)
            im = cv2.resize(im, (round(w * f), round(h * f)), interpolation=cv2.INTER_LINEAR)
            h, w = im.shape[:2]
        x = np.zeros((1, 3, (h + 31) // 32 * 32, (w + 31) // 32 * 32), np.float32)
        x[0, :, :h, :w] = im.transpose(2, 0, 1)
        t = time.perf_counter()
        det.run(None, {name: x})
        total += time.perf_counter() - t
    print(f"yunet-s: {len(photos)} photos, {total:.1f} s, {total / max(len(photos), 1) * 1000:.1f} ms per photo")

    embedders = [("mobilefacenet", a.mobilefacenet, (1, 8))]
    if a.edgeface:
        embedders.append(("edgeface-s", a.edgeface, (1,)))
    rng = np.random.default_rng(0)
    for label, path, batches in embedders:
        emb = session(path)
        name = emb.get_inputs()[0].name
        for batch in batches:
            x = (rng.random((batch, 3, 112, 112)) * 255).astype(np.float32)
            emb.run(None, {name: x})
            times = []
            for _ in range(a.repeats):
                t = time.perf_counter()
                emb.run(None, {name: x})
                times.append(time.perf_counter() - t)
            print(f"{label}: batch {batch}, {np.median(times) / batch * 1000:.1f} ms per face (median of {a.repeats})")


if __name__ == "__main__":
    main()
