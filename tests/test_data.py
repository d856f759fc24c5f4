"""convlib.data: every layout loads, the JPEG copy is complete, the cache is used, errors are clear,
and damaged or incomplete data never loads silently."""

from __future__ import annotations

import pickle
import shutil
import tarfile
import time
import warnings

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
    ds = data.load_cifar10(tmp_path / "root", download=False, cache_dir=tmp_path / "cache",
                           allow_subset=True)  # random labels: not CIFAR-10's 5,000 per class
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
                pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    ds = data.load_cifar10(tmp_path, download=False, cache_dir=tmp_path / "cache",
                           allow_subset=True)  # 3 classes only, on purpose
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


# ------------------------------------------------------------ data that cannot be silently wrong
# A complete CIFAR-10 in miniature: the module's per-class counts are patched down to 2 training
# and 1 test image per class, so "complete" needs 30 tiny PNGs instead of 60,000 images.

@pytest.fixture
def small_cifar(monkeypatch):
    monkeypatch.setattr(data, "TRAIN_PER_CLASS", 2)
    monkeypatch.setattr(data, "TEST_PER_CLASS", 1)


def _write_tree(tree, per_split=(("train", 2), ("test", 1)), seed=0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split, n in per_split:
        for name in data.CLASSES:
            folder = tree / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i:04d}.png")
    return tree


def _write_archive(tree, archive):
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree, arcname="cifar10-jpeg")
    return archive


def _load(root, tmp_path, **kwargs):
    return data.load_cifar10(root, download=False, cache_dir=tmp_path / "cache", **kwargs)


def test_a_complete_miniature_loads_from_a_tree_and_an_archive(tmp_path, small_cifar):
    tree = _write_tree(tmp_path / "tree")
    ds = _load(tree, tmp_path)
    assert torch.bincount(ds.train_labels).tolist() == [2] * 10
    assert torch.bincount(ds.test_labels).tolist() == [1] * 10
    (tmp_path / "packed").mkdir()
    _write_archive(tree, tmp_path / "packed" / data.ARCHIVE_NAME)
    from_archive = _load(tmp_path / "packed", tmp_path)
    assert from_archive.source == "JPEG archive"
    assert torch.equal(from_archive.train_images, ds.train_images)


def test_a_tree_without_its_cat_training_folder_is_refused(tmp_path, small_cifar):
    tree = _write_tree(tmp_path / "tree")
    shutil.rmtree(tree / "train" / "cat")
    with pytest.raises(data.InvalidDatasetError) as info:
        _load(tree, tmp_path)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert f"{tree / 'train'} has no 'cat' folder" in message
    assert "10 classes" in message and "allow_subset=True" in message and str(tree) in message
    # asked for on purpose, the subset loads; the cache it leaves does not let it in unasked
    ds = _load(tree, tmp_path, allow_subset=True)
    assert len(ds.train_labels) == 18 and 3 not in ds.train_labels.tolist()
    assert list((tmp_path / "cache").glob("cifar10-*.npz"))
    with pytest.raises(data.InvalidDatasetError, match="has no 'cat' folder"):
        _load(tree, tmp_path)


def test_an_empty_class_folder_and_wrong_counts_are_named(tmp_path, small_cifar):
    from PIL import Image

    tree = _write_tree(tmp_path / "tree")
    for f in (tree / "test" / "frog").iterdir():
        f.unlink()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tree / "train" / "dog" / "extra.png")
    with pytest.raises(data.InvalidDatasetError) as info:
        _load(tree, tmp_path)
    message = str(info.value)
    assert f"{tree / 'test' / 'frog'} holds no images" in message
    assert "train has 3 'dog' images, CIFAR-10 has 2" in message


def test_an_archive_missing_a_class_is_refused(tmp_path, small_cifar):
    tree = _write_tree(tmp_path / "tree")
    shutil.rmtree(tree / "test" / "cat")
    (tmp_path / "packed").mkdir()
    archive = _write_archive(tree, tmp_path / "packed" / data.ARCHIVE_NAME)
    with pytest.raises(data.InvalidDatasetError, match=f"{archive} has no test/cat/ images"):
        _load(tmp_path / "packed", tmp_path)


def test_a_truncated_archive_gives_one_clear_error_naming_it(tmp_path, small_cifar):
    tree = _write_tree(tmp_path / "tree")
    (tmp_path / "packed").mkdir()
    archive = _write_archive(tree, tmp_path / "packed" / data.ARCHIVE_NAME)
    whole = archive.read_bytes()
    for cut in (len(whole) // 2, len(whole) - 20, 10):
        archive.write_bytes(whole[:cut])
        with pytest.raises(data.InvalidDatasetError) as info:
            _load(tmp_path / "packed", tmp_path)
        assert str(archive) in str(info.value) and "damaged or truncated" in str(info.value)
        assert info.value.__cause__ is not None  # the original error is chained, not lost


def test_the_real_archive_truncated_gives_one_clear_error(cifar_dir, tmp_path):
    # the case from the issue: a raw EOFError from gzip before
    with open(cifar_dir / data.ARCHIVE_NAME, "rb") as f:
        head = f.read(1_000_000)
    (tmp_path / "packed").mkdir()
    (tmp_path / "packed" / data.ARCHIVE_NAME).write_bytes(head)
    with pytest.raises(data.InvalidDatasetError, match="damaged or truncated") as info:
        _load(tmp_path / "packed", tmp_path)
    assert str(tmp_path / "packed" / data.ARCHIVE_NAME) in str(info.value)
    assert isinstance(info.value.__cause__, (EOFError, tarfile.TarError, OSError))


def test_an_unreadable_image_is_named(tmp_path, small_cifar):
    tree = _write_tree(tmp_path / "tree")
    broken = tree / "train" / "ship" / "0001.png"
    broken.write_bytes(broken.read_bytes()[:40])
    with pytest.raises(data.InvalidDatasetError, match="0001.png is not a readable image") as info:
        _load(tree, tmp_path)
    assert str(broken) in str(info.value)


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage"])
def test_a_damaged_cache_is_discarded_with_a_warning_and_rebuilt(tmp_path, small_cifar, damage):
    tree = _write_tree(tmp_path / "tree")
    first = _load(tree, tmp_path)
    (cache_file,) = (tmp_path / "cache").glob("cifar10-*.npz")
    whole = cache_file.read_bytes()
    cache_file.write_bytes({"truncated": whole[: len(whole) // 2], "empty": b"",
                            "garbage": b"not a zip file" * 100}[damage])
    with pytest.warns(data.DamagedCacheWarning, match="damaged") as record:
        second = _load(tree, tmp_path)
    assert str(cache_file) in str(record[0].message) and str(tree) in str(record[0].message)
    assert torch.equal(first.train_images, second.train_images)
    assert torch.equal(first.test_labels, second.test_labels)
    assert cache_file.read_bytes() == whole  # rebuilt from the source
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _load(tree, tmp_path)  # and trusted again, silently


def test_a_cache_with_wrong_contents_is_rebuilt(tmp_path, small_cifar):
    tree = _write_tree(tmp_path / "tree")
    first = _load(tree, tmp_path)
    (cache_file,) = (tmp_path / "cache").glob("cifar10-*.npz")
    # wrong layout, keys missing
    np.savez(cache_file, train_images=np.zeros((20, 32, 32, 3), np.uint8))
    with pytest.warns(data.DamagedCacheWarning):
        second = _load(tree, tmp_path)
    assert torch.equal(first.train_images, second.train_images)


def _write_balanced_batches(folder):
    """Batches with every class present: 5 training batches of 10 (one per class), a test batch
    of 10."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        pixels = rng.integers(0, 256, size=(10, 3072), dtype=np.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({"data": pixels, "labels": list(range(10))}, f)


def test_pickled_batches_are_checked_too(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "TRAIN_PER_CLASS", 5)
    monkeypatch.setattr(data, "TEST_PER_CLASS", 1)
    folder = tmp_path / "root" / "cifar-10-batches-py"
    _write_balanced_batches(folder)
    assert len(_load(tmp_path / "root", tmp_path).train_labels) == 50  # complete: loads

    (folder / "data_batch_3").unlink()
    with pytest.raises(data.InvalidDatasetError) as info:
        _load(tmp_path / "root", tmp_path)
    assert f"{folder} lacks data_batch_3" in str(info.value)
    assert "train has 4 'airplane' images, CIFAR-10 has 5" in str(info.value)
    assert len(_load(tmp_path / "root", tmp_path, allow_subset=True).train_labels) == 40

    batch = folder / "data_batch_2"
    batch.write_bytes(batch.read_bytes()[:100])
    with pytest.raises(data.InvalidDatasetError, match="data_batch_2 is damaged") as info:
        _load(tmp_path / "root", tmp_path, allow_subset=True)
    assert info.value.__cause__ is not None

    batch.unlink()
    (folder / "test_batch").unlink()
    with pytest.raises(data.InvalidDatasetError, match="has no test_batch"):
        _load(tmp_path / "root", tmp_path, allow_subset=True)


def test_labels_outside_cifar10_are_refused_even_for_a_subset(tmp_path):
    folder = tmp_path / "root" / "cifar-10-batches-py"
    _write_balanced_batches(folder)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 10]}, f)
    with pytest.raises(data.InvalidDatasetError, match="labels run from 0 to 10"):
        _load(tmp_path / "root", tmp_path, allow_subset=True)


def test_allow_subset_must_be_a_bool(tmp_path):
    with pytest.raises(TypeError, match="allow_subset"):
        data.load_cifar10(tmp_path, download=False, cache_dir=tmp_path / "cache",
                          allow_subset="yes")
