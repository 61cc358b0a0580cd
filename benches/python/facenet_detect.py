#!/usr/bin/env python3
"""YuNet 2023mar boxes and five landmarks for every LFW image in pairs.txt, cached as JSON for
facenet_lfw.py (which runs FaceNet on OpenCV 4.6 and cannot load YuNet 2023mar itself).

Like facelab's LFW task, the largest face of each photo is kept; a photo without one is
recorded as null (facelab embeds the whole frame then).

  /root/.cache/facelab/py-venv/bin/python benches/python/facenet_detect.py OUT.json
"""

import argparse
import json
from pathlib import Path

import cv2

HERE = Path(__file__).resolve().parent
SHARED = (HERE.parent.parent / ".." / "shared").resolve()


def pair_images(root):
    lines = (root / "pairs.txt").read_text().split("\n")[1:]
    names = set()
    for line in lines:
        f = line.split()
        if len(f) == 3:
            names |= {(f[0], int(f[1])), (f[0], int(f[2]))}
        elif len(f) == 4:
            names |= {(f[0], int(f[1])), (f[2], int(f[3]))}
    return sorted(names)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--lfw", default=str(SHARED / "datasets" / "lfw"))
    ap.add_argument("--model", default=str(SHARED / "models" / "yunet" / "face_detection_yunet_2023mar.onnx"))
    ap.add_argument("--score", type=float, default=0.6)
    a = ap.parse_args()
    root = Path(a.lfw)
    det = cv2.FaceDetectorYN.create(a.model, "", (320, 320), a.score, 0.3, 5000)
    out = {}
    for name, i in pair_images(root):
        key = f"{name}/{name}_{i:04d}.jpg"
        img = cv2.imread(str(root / "images" / key))
        det.setInputSize((img.shape[1], img.shape[0]))
        _, faces = det.detect(img)
        if faces is None or len(faces) == 0:
            out[key] = None
            continue
        f = max(faces, key=lambda r: r[2] * r[3])
        out[key] = [float(v) for v in f[:14]]
    Path(a.out).write_text(json.dumps(out))
    print(f"{len(out)} images, {sum(v is None for v in out.values())} without a face")


if __name__ == "__main__":
    main()
