"""CIFAR-10, offline first.

``load_cifar10`` returns the 60,000 CIFAR-10 images as ``uint8`` tensors of shape
``(N, 3, 32, 32)`` (channels first, as PyTorch's convolutions expect) and ``int64`` labels,
with CIFAR-10's own train/test split and class order.

Where it looks, in order:

1. ``root`` (or ``$CONVLIB_DATA`` when ``root`` is None), holding any of
   (a) torchvision's ``cifar-10-batches-py/`` (the original pickled batches),
   (b) a one-folder-per-class image tree ``train/<class>/*`` and ``test/<class>/*``
       (also inside a ``cifar10-jpeg/`` folder),
   (c) the archive ``cifar10-jpeg.tar.gz`` of such a tree;
2. the per-user cache (``$CONVLIB_CACHE``, else ``$XDG_CACHE_HOME/convlib``, else
   ``~/.cache/convlib``), which may hold any of the above;
3. torchvision's download of the original archive into that cache (when ``download=True``).

Decoded arrays are cached in the per-user cache (written atomically) and reused, so a second
load costs a file read instead of 60,000 image decodes.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck")
ARCHIVE_NAME = "cifar10-jpeg.tar.gz"
BATCHES_DIR = "cifar-10-batches-py"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
_CACHE_FORMAT = 1  # bump to invalidate every cached array


@dataclass(frozen=True)
class CIFAR10:
    """The data set as tensors: images ``uint8 (N, 3, 32, 32)``, labels ``int64 (N,)``."""

    train_images: "torch.Tensor"  # noqa: F821
    train_labels: "torch.Tensor"  # noqa: F821
    test_images: "torch.Tensor"  # noqa: F821
    test_labels: "torch.Tensor"  # noqa: F821
    classes: tuple[str, ...]
    source: str  # where it was read from: 'pickled batches', 'image folders' or 'JPEG archive'
    lossy: bool  # True when the pixels come from the JPEG copy

    @property
    def name(self) -> str:
        """How the book names this data next to every number it reports."""
        return "CIFAR-10 (JPEG copy)" if self.lossy else "CIFAR-10"


class DatasetNotFoundError(FileNotFoundError):
    """CIFAR-10 is nowhere to be found and cannot be downloaded."""


def default_cache_dir() -> Path:
    """The per-user cache folder for decoded arrays and downloads."""
    if os.environ.get("CONVLIB_CACHE"):
        return Path(os.environ["CONVLIB_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "convlib"


def load_cifar10(root: str | os.PathLike | None = None, *, download: bool = True,
                 cache_dir: str | os.PathLike | None = None) -> CIFAR10:
    """Load CIFAR-10 as ``uint8 (N, 3, 32, 32)`` images and ``int64`` labels.

    Args:
        root: a folder holding the data in one of the layouts above; ``None`` means
            ``$CONVLIB_DATA`` (if set).
        download: whether torchvision may download the original archive when nothing is found.
        cache_dir: where decoded arrays (and downloads) are kept; default :func:`default_cache_dir`.

    Raises:
        DatasetNotFoundError: nothing found and download impossible, with where to put which file.
    """
    if root is not None and not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a path or None; got {type(root).__name__}")
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    places = []
    if root is not None:
        places.append(Path(root).expanduser())
    elif os.environ.get("CONVLIB_DATA"):
        places.append(Path(os.environ["CONVLIB_DATA"]).expanduser())
    places.append(cache)

    for place in places:
        found = _find_source(place)
        if found is not None:
            return _load_cached(*found, cache=cache)

    if download:
        try:
            from torchvision.datasets import CIFAR10 as TorchvisionCIFAR10

            cache.mkdir(parents=True, exist_ok=True)
            TorchvisionCIFAR10(str(cache), train=True, download=True)
        except Exception as error:  # no network, SSL, disk: all mean "not available"
            raise _not_found(places, reason=f"the download failed ({type(error).__name__})") from None
        found = _find_source(cache)
        if found is not None:
            return _load_cached(*found, cache=cache)
    raise _not_found(places, reason="downloads are disabled (download=False)")


def _not_found(places: list[Path], reason: str) -> DatasetNotFoundError:
    looked = "\n".join(f"  - {p}" for p in places)
    return DatasetNotFoundError(
        "CIFAR-10 was not found, and " + reason + ".\nLooked in:\n" + looked + "\n"
        "Put one of these in a folder and set CONVLIB_DATA to it (or pass root=...):\n"
        f"  - {BATCHES_DIR}/ (the original python version, from "
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz, unpacked)\n"
        "  - train/<class>/*.png|jpg and test/<class>/*.png|jpg, one folder per class\n"
        f"  - {ARCHIVE_NAME} (the JPEG copy: cifar10-jpeg/train/<class>/..., cifar10-jpeg/test/...)"
    )


def _find_source(place: Path) -> tuple[str, Path] | None:
    """The first usable layout in ``place``: (kind, path), or None."""
    if not place.is_dir():
        return None
    if (place / BATCHES_DIR / "data_batch_1").is_file():
        return "pickled batches", place / BATCHES_DIR
    for tree in (place, place / "cifar10-jpeg"):
        if (tree / "train").is_dir() and (tree / "test").is_dir():
            return "image folders", tree
    if (place / ARCHIVE_NAME).is_file():
        return "JPEG archive", place / ARCHIVE_NAME
    return None


def _fingerprint(kind: str, path: Path) -> str:
    """A cache key from the source's location, size and modification time (cheap, no hashing of data)."""
    parts = [str(_CACHE_FORMAT), kind, str(path.resolve())]
    if kind == "pickled batches":
        files = sorted(path.iterdir())
    elif kind == "image folders":  # a class folder's mtime changes when files are added or removed
        files = sorted(p for p in path.glob("*/*") if p.is_dir())
    else:
        files = [path]
    for f in files:
        st = f.stat()
        parts.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _load_cached(kind: str, path: Path, cache: Path) -> CIFAR10:
    import torch

    lossy = kind == "JPEG archive" or (kind == "image folders" and _is_jpeg_tree(path))
    cache_file = cache / f"cifar10-{_fingerprint(kind, path)}.npz"
    arrays = None
    if cache_file.is_file():
        try:
            with np.load(cache_file) as stored:
                arrays = {k: stored[k] for k in stored.files}
        except (OSError, ValueError, EOFError):
            arrays = None  # a damaged cache is rebuilt, not trusted
    if arrays is None:
        reader = {"pickled batches": _read_batches, "image folders": _read_tree,
                  "JPEG archive": _read_archive}[kind]
        arrays = reader(path)
        _check_arrays(arrays, kind, path)
        _atomic_save(cache_file, arrays)
    return CIFAR10(
        train_images=torch.from_numpy(arrays["train_images"]),
        train_labels=torch.from_numpy(arrays["train_labels"]),
        test_images=torch.from_numpy(arrays["test_images"]),
        test_labels=torch.from_numpy(arrays["test_labels"]),
        classes=CLASSES, source=kind, lossy=lossy,
    )


def _is_jpeg_tree(tree: Path) -> bool:
    first_class = tree / "train" / CLASSES[0]
    sample = next(iter(sorted(first_class.iterdir())), None) if first_class.is_dir() else None
    return sample is not None and sample.suffix.lower() in (".jpg", ".jpeg")


def _check_arrays(arrays: dict[str, np.ndarray], kind: str, path: Path) -> None:
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 4 or images.shape[1:] != (3, 32, 32) or len(images) != len(labels):
            raise ValueError(f"{kind} at {path}: {split} images have shape {images.shape}, "
                             f"expected (N, 3, 32, 32) with N = {len(labels)} labels")


def _atomic_save(target: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write to a temporary file in the same folder, then rename: readers never see half a file."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:
        pass  # a read-only cache only costs speed


def _read_batches(folder: Path) -> dict[str, np.ndarray]:
    """The original pickled batches: 5 training batches and ``test_batch``, rows of 3072 bytes."""
    def read(names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        images, labels = [], []
        for name in names:
            with open(folder / name, "rb") as f:
                batch = pickle.load(f, encoding="latin1")
            images.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.append(np.asarray(batch["labels"], dtype=np.int64))
        return np.concatenate(images), np.concatenate(labels)

    train_names = sorted(p.name for p in folder.glob("data_batch_*"))
    train_images, train_labels = read(train_names)
    test_images, test_labels = read(["test_batch"])
    return {"train_images": train_images, "train_labels": train_labels,
            "test_images": test_images, "test_labels": test_labels}


def _decode(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
    if pixels.shape != (32, 32, 3):
        raise ValueError(f"expected a 32x32 RGB image, got shape {pixels.shape}")
    return pixels.transpose(2, 0, 1)


def _collect(items: list[tuple[str, str, bytes]]) -> dict[str, np.ndarray]:
    """(split, class name, encoded image) triples to arrays, sorted by split, class, file order."""
    arrays = {}
    for split in ("train", "test"):
        chosen = [(c, d) for s, c, d in items if s == split]
        unknown = sorted({c for c, _ in chosen} - set(CLASSES))
        if unknown:
            raise ValueError(f"unknown class folders {unknown}; expected {list(CLASSES)}")
        arrays[f"{split}_images"] = (np.stack([_decode(d) for _, d in chosen])
                                     if chosen else np.zeros((0, 3, 32, 32), np.uint8))
        arrays[f"{split}_labels"] = np.array([CLASSES.index(c) for c, _ in chosen], dtype=np.int64)
    return arrays


def _read_tree(tree: Path) -> dict[str, np.ndarray]:
    items = []
    for split in ("train", "test"):
        for class_dir in sorted(p for p in (tree / split).iterdir() if p.is_dir()):
            for file in sorted(class_dir.iterdir()):
                if file.suffix.lower() in IMAGE_SUFFIXES:
                    items.append((split, class_dir.name, file.read_bytes()))
    return _collect(items)


def _read_archive(archive: Path) -> dict[str, np.ndarray]:
    """Decode straight from the archive: nothing is unpacked to disk."""
    items = []
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            parts = Path(member.name).parts
            if not member.isfile() or len(parts) < 3 or Path(member.name).suffix.lower() not in IMAGE_SUFFIXES:
                continue
            split, class_name = parts[-3], parts[-2]
            if split in ("train", "test"):
                items.append((split, class_name, parts[-1], tar.extractfile(member).read()))
    items.sort(key=lambda item: (item[0], CLASSES.index(item[1]) if item[1] in CLASSES else -1, item[2]))
    return _collect([(s, c, d) for s, c, _, d in items])


def subset(images: "torch.Tensor", labels: "torch.Tensor", size: int | None,  # noqa: F821
           seed: int = 0) -> tuple["torch.Tensor", "torch.Tensor"]:  # noqa: F821
    """A class-balanced random subset of ``size`` examples (all of them when ``size`` is None)."""
    import torch

    if size is None or size >= len(labels):
        return images, labels
    if not isinstance(size, int) or size <= 0:
        raise ValueError(f"size must be a positive int or None; got {size!r}")
    generator = torch.Generator().manual_seed(seed)
    n_classes = int(labels.max()) + 1
    per_class = [torch.nonzero(labels == c).flatten() for c in range(n_classes)]
    picks = []
    for c, idx in enumerate(per_class):
        take = size // n_classes + (1 if c < size % n_classes else 0)
        picks.append(idx[torch.randperm(len(idx), generator=generator)[:take]])
    chosen = torch.cat(picks).sort().values
    return images[chosen], labels[chosen]
