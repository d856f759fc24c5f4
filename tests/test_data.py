"""convlib.data: every layout loads, the JPEG copy is complete, the cache is used, errors are clear."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pytest
import torch

from convlib import data


@pytest.fixture(scope="module")
def jpeg_load(cifar_dir, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    start = time.perf_counter()
    first = data.load_cifar10(cifar_dir, download=False, cache_dir=cache)
    first_seconds = time.perf_counter() - start
    return first, first_seconds, cache


def test_jpeg_copy_is_complete(jpeg_load):
    ds, _, _ = jpeg_load
    assert ds.train_images.shape == (50_000, 3, 32, 32)
    assert ds.test_images.shape == (10_000, 3, 32, 32)
    assert ds.train_images.dtype == torch.uint8 and ds.train_labels.dtype == torch.int64
    assert torch.bincount(ds.train_labels).tolist() == [5_000] * 10
    assert torch.bincount(ds.test_labels).tolist() == [1_000] * 10
    assert ds.classes == ("airplane", "automobile", "bird", "cat", "deer",
                          "dog", "frog", "horse", "ship", "truck")
    assert ds.lossy and ds.name == "CIFAR-10 (JPEG copy)"


def test_jpeg_copy_pixel_statistics_match_its_readme(jpeg_load):
    ds, _, _ = jpeg_load
    means = ds.train_images.float().div(255).mean(dim=(0, 2, 3))
    assert torch.allclose(means, torch.tensor([0.4913, 0.4821, 0.4465]), atol=2e-4)


def test_second_load_uses_the_cache(jpeg_load, cifar_dir):
    first, first_seconds, cache = jpeg_load
    assert list(cache.glob("cifar10-*.npz")), "the decoded arrays were not cached"
    start = time.perf_counter()
    second = data.load_cifar10(cifar_dir, download=False, cache_dir=cache)
    second_seconds = time.perf_counter() - start
    assert torch.equal(first.train_images, second.train_images)
    assert torch.equal(first.test_labels, second.test_labels)
    assert second_seconds * 5 < first_seconds, (first_seconds, second_seconds)


def _write_batches(folder, per_batch=20, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    expected = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        pixels = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = [int(x) for x in rng.integers(0, 10, size=per_batch)]
        with open(folder / name, "wb") as f:
            pickle.dump({"data": pixels, "labels": labels, "batch_label": name.encode()}, f)
        expected[name] = (pixels, labels)
    return expected


def test_fabricated_pickled_batches_load(tmp_path):
    expected = _write_batches(tmp_path / "root" / "cifar-10-batches-py")
    ds = data.load_cifar10(tmp_path / "root", download=False, cache_dir=tmp_path / "cache")
    assert ds.train_images.shape == (100, 3, 32, 32) and ds.test_images.shape == (20, 3, 32, 32)
    assert not ds.lossy and ds.name == "CIFAR-10" and ds.source == "pickled batches"
    pixels, labels = expected["data_batch_1"]
    # the original rows are 1024 red, then 1024 green, then 1024 blue bytes, row-major
    assert torch.equal(ds.train_images[0, 1].flatten(), torch.from_numpy(pixels[0, 1024:2048]))
    assert ds.train_labels[:20].tolist() == labels
    assert ds.test_labels.tolist() == expected["test_batch"][1]


def test_image_folder_tree_loads(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(1)
    for split, n in (("train", 2), ("test", 1)):
        for name in data.CLASSES[:3]:
            folder = tmp_path / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    ds = data.load_cifar10(tmp_path, download=False, cache_dir=tmp_path / "cache")
    assert ds.train_labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert ds.test_images.shape == (3, 3, 32, 32)
    assert not ds.lossy  # PNG is lossless


def test_missing_dataset_without_download_gives_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("CONVLIB_DATA", raising=False)
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load_cifar10(tmp_path / "nothing", download=False, cache_dir=tmp_path / "cache")
    message = str(info.value)
    assert "cifar-10-batches-py" in message and "cifar10-jpeg.tar.gz" in message
    assert "CONVLIB_DATA" in message


def test_failed_download_gives_the_same_clear_error(tmp_path, monkeypatch):
    import torchvision.datasets

    class Offline:
        def __init__(self, *args, **kwargs):
            raise OSError("Network is unreachable")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", Offline)
    with pytest.raises(data.DatasetNotFoundError, match="download failed") as info:
        data.load_cifar10(tmp_path / "nothing", download=True, cache_dir=tmp_path / "cache")
    assert info.value.__cause__ is None  # no traceback from deep inside torchvision


def test_bad_root_type_is_rejected():
    with pytest.raises(TypeError, match="root"):
        data.load_cifar10(42)


def test_subset_is_balanced_and_deterministic():
    labels = torch.arange(100) % 10
    images = torch.arange(100)
    sub_images, sub_labels = data.subset(images, labels, 30, seed=3)
    assert torch.bincount(sub_labels).tolist() == [3] * 10
    assert torch.equal(sub_images, data.subset(images, labels, 30, seed=3)[0])
    with pytest.raises(ValueError, match="size"):
        data.subset(images, labels, 0)
