"""Reference side of test_torchvision.cpp: applies torchvision's functional transforms (and PIL,
ImageFolder and torchvision's STL-10 layout) to the files the C++ test wrote, and writes the results
next to them.

Usage: torchvision_compare.py DIR
  DIR/input.png        the test image (RGB)
  DIR/cases.txt        one case per line: NAME OP ARGS...
  writes DIR/NAME.bin  float32, C x H x W, for every case
  DIR/input.jpg        -> DIR/pil_jpeg.bin   PIL's decode, uint8 H x W x 3
  DIR/folder/          -> DIR/folder.txt     ImageFolder's classes, then "label relative/path" lines
  DIR/stl.bin          -> DIR/stl_image1.bin image 1 as torchvision's STL10 lays it out, uint8 C x H x W
"""
import os
import sys

import numpy as np
import torch
import torchvision.transforms.functional as F
from PIL import Image
from torchvision.datasets import ImageFolder
from torchvision.transforms import InterpolationMode


def main(d):
    img = np.asarray(Image.open(os.path.join(d, "input.png")).convert("RGB"))
    t = torch.from_numpy(img.copy()).permute(2, 0, 1).float() / 255.0
    with open(os.path.join(d, "cases.txt")) as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            name, op, args = parts[0], parts[1], [float(a) for a in parts[2:]]
            if op == "resized_crop":
                top, left, h, w, oh, ow = (int(a) for a in args)
                out = F.resized_crop(t, top, left, h, w, [oh, ow], InterpolationMode.BILINEAR, antialias=True)
            elif op == "resize_center_crop":
                size, crop = int(args[0]), int(args[1])
                out = F.center_crop(F.resize(t, size, InterpolationMode.BILINEAR, antialias=True), [crop, crop])
            elif op == "pad_crop":
                pad, top, left, h, w = (int(a) for a in args)
                out = F.crop(F.pad(t, pad), top, left, h, w)
            elif op == "hflip":
                out = F.hflip(t)
            elif op == "brightness":
                out = F.adjust_brightness(t, args[0])
            elif op == "contrast":
                out = F.adjust_contrast(t, args[0])
            elif op == "saturation":
                out = F.adjust_saturation(t, args[0])
            elif op == "hue":
                out = F.adjust_hue(t, args[0])
            elif op == "grayscale":
                out = F.rgb_to_grayscale(t, num_output_channels=3)
            elif op == "blur":
                k = int(args[0])
                out = F.gaussian_blur(t, [k, k], [args[1], args[1]])
            elif op == "solarize":
                out = F.solarize(t, args[0])
            elif op == "normalize":
                out = F.normalize(t, args[0:3], args[3:6])
            else:
                raise SystemExit("unknown op " + op)
            out.contiguous().numpy().astype(np.float32).tofile(os.path.join(d, name + ".bin"))

    jpeg = np.asarray(Image.open(os.path.join(d, "input.jpg")).convert("RGB"))
    jpeg.astype(np.uint8).tofile(os.path.join(d, "pil_jpeg.bin"))

    folder = ImageFolder(os.path.join(d, "folder"))
    with open(os.path.join(d, "folder.txt"), "w") as f:
        f.write(" ".join(folder.classes) + "\n")
        for path, label in folder.samples:
            f.write("%d %s\n" % (label, os.path.relpath(path, os.path.join(d, "folder"))))

    # torchvision.datasets.STL10.__loadfile: reshape to (-1, 3, 96, 96), swap the last two axes.
    everything = np.fromfile(os.path.join(d, "stl.bin"), dtype=np.uint8)
    images = np.transpose(np.reshape(everything, (-1, 3, 96, 96)), (0, 1, 3, 2))
    np.ascontiguousarray(images[1]).tofile(os.path.join(d, "stl_image1.bin"))


if __name__ == "__main__":
    main(sys.argv[1])
