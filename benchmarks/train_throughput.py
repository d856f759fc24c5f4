"""Images per second of convlib.train against a plain PyTorch training loop, side by side.

The plain loop is the textbook one: torchvision's per-image transforms (RandomCrop with padding 4,
RandomHorizontalFlip, ToTensor, Normalize) on PIL images, a ``DataLoader`` with worker processes,
float32, NCHW. Both train the same model (the article's network with two 3x3 convolutions per
block) with the same optimiser on the same images, on the same device.

    python benchmarks/train_throughput.py [--images 4000] [--epochs 2] [--workers 2]

Prints both throughputs and their ratio; the first epoch of each is a warm-up and is not timed.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from convlib.data import load_cifar10, subset
from convlib.device import default_device, device_name
from convlib.models import ArticleNet
from convlib.train import CIFAR10_MEAN, CIFAR10_STD, TrainConfig, train


class PILDataset(torch.utils.data.Dataset):
    """What torchvision's CIFAR10 dataset does per item: a PIL image through the transforms."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform) -> None:
        self.images = images.permute(0, 2, 3, 1).contiguous().numpy()  # HWC, as PIL wants
        self.labels = labels.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[index])), self.labels[index]


def plain_loop(model, images, labels, epochs: int, batch_size: int, workers: int, device) -> float:
    """Images/s of the textbook loop over the epochs after the first."""
    from torchvision import transforms

    transform = transforms.Compose([
        transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
        transforms.ToTensor(), transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD)])
    loader = torch.utils.data.DataLoader(PILDataset(images, labels, transform),
                                         batch_size=batch_size,
                                         shuffle=True, num_workers=workers, drop_last=True,
                                         persistent_workers=workers > 0)
    model = model.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                                weight_decay=5e-4)
    rates = []
    for _ in range(epochs):
        model.train()
        seen, start = 0, time.perf_counter()
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seen += len(y)
        if device.type == "cuda":
            torch.cuda.synchronize()
        rates.append(seen / (time.perf_counter() - start))
    return sum(rates[1:]) / len(rates[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=3, help="including one warm-up epoch")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first is a warm-up)")
    device = default_device()
    data = load_cifar10()
    images, labels = subset(data.train_images, data.train_labels, args.images)
    test_images, test_labels = subset(data.test_images, data.test_labels, 500)

    torch.manual_seed(0)
    history = train(ArticleNet("stacked", 5), images, labels, test_images, test_labels,
                    TrainConfig(epochs=args.epochs, batch_size=args.batch_size), device=device,
                    progress=False)
    harness = sum(history.images_per_second[1:]) / (args.epochs - 1)
    torch.manual_seed(0)
    plain = plain_loop(ArticleNet("stacked", 5), images, labels, args.epochs, args.batch_size,
                       args.workers, device)
    print(f"device: {device_name(device)}; data: {data.name}, {len(labels)} training images, "
          f"batch {args.batch_size}, {args.epochs - 1} timed epochs")
    print(f"convlib.train ({history.precision}):          {harness:8.0f} images/s")
    print(f"plain loop (float32, DataLoader, {args.workers} workers): {plain:8.0f} images/s")
    print(f"ratio: {harness / plain:.2f}x")


if __name__ == "__main__":
    main()
