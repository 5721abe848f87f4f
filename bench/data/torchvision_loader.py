"""torchvision's side of bench_data: BYOL's two-view recipe on an image folder through
torchvision.datasets.ImageFolder and torch.utils.data.DataLoader, the way BYOL/MoCo v3
implementations in PyTorch write it (PIL images, transforms applied per example in the workers).

Usage: torchvision_loader.py DIR WORKERS BATCH IMAGES SEED
Prints "images_per_second X": images delivered per second from the first batch on (worker start-up
excluded, as on the C++ side), until IMAGES images have been delivered.
"""
import sys
import time

import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms as T

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def view(blur_p, solarize_p):
    steps = [
        T.RandomResizedCrop(224, scale=(0.08, 1.0)),
        T.RandomHorizontalFlip(),
        T.RandomApply([T.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
        T.RandomGrayscale(p=0.2),
        T.RandomApply([T.GaussianBlur(23, sigma=(0.1, 2.0))], p=blur_p),
    ]
    if solarize_p > 0:
        steps.append(T.RandomSolarize(threshold=128, p=solarize_p))
    steps += [T.ToTensor(), T.Normalize(MEAN, STD)]
    return T.Compose(steps)


class TwoViews:
    def __init__(self):
        self.first, self.second = view(1.0, 0.0), view(0.1, 0.2)

    def __call__(self, img):
        return self.first(img), self.second(img)


def main():
    root, workers, batch, images, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    torch.manual_seed(seed)
    data = datasets.ImageFolder(root, transform=TwoViews())
    loader = DataLoader(data, batch_size=batch, shuffle=True, num_workers=workers, drop_last=True)
    delivered, start = 0, None
    for (v1, v2), _ in loader:
        if start is None:
            start = time.perf_counter()  # from the first batch on
            continue
        delivered += v1.shape[0]
        if delivered >= images:
            break
    print("images_per_second %.3f" % (delivered / (time.perf_counter() - start)))


if __name__ == "__main__":
    main()
