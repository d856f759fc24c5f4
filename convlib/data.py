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

Data that cannot be silently wrong:

- what was read is checked against CIFAR-10's shape (:data:`CLASSES`, :data:`TRAIN_PER_CLASS`
  training and :data:`TEST_PER_CLASS` test images per class, :data:`IMAGE_SHAPE` ``uint8``):
  anything else stops with :class:`InvalidDatasetError` naming the source and what is missing
  or off (an image tree without its ``train/cat`` folder does not load as 45,000 images with
  no cats), unless the caller asks for part of CIFAR-10 on purpose with ``allow_subset=True``
  (the shapes, types and labels are still checked then);
- a damaged source (a truncated ``cifar10-jpeg.tar.gz``, an image that does not decode, a
  pickled batch cut short) gives one :class:`InvalidDatasetError` naming the file, with the
  original error chained;
- a damaged cache file is discarded with a :class:`DamagedCacheWarning` naming it, and the
  arrays are rebuilt from the source.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from convlib.io import atomic_writer

CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck")
ARCHIVE_NAME = "cifar10-jpeg.tar.gz"
BATCHES_DIR = "cifar-10-batches-py"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
TRAIN_PER_CLASS = 5_000  # CIFAR-10's training images per class (50,000 in all)
TEST_PER_CLASS = 1_000  # CIFAR-10's test images per class (10,000 in all)
IMAGE_SHAPE = (3, 32, 32)  # channels first, uint8
_CACHE_FORMAT = 1  # bump to invalidate every cached array
_ARRAY_KEYS = ("train_images", "train_labels", "test_images", "test_labels")


@dataclass(frozen=True)
class CIFAR10:
    """The data set as tensors: images ``uint8 (N, 3, 32, 32)``, labels ``int64 (N,)``."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: tuple[str, ...]
    source: str  # where it was read from: 'pickled batches', 'image folders' or 'JPEG archive'
    lossy: bool  # True when the pixels come from the JPEG copy

    @property
    def name(self) -> str:
        """How the book names this data next to every number it reports."""
        return "CIFAR-10 (JPEG copy)" if self.lossy else "CIFAR-10"


class DatasetNotFoundError(FileNotFoundError):
    """CIFAR-10 is nowhere to be found and cannot be downloaded."""


class InvalidDatasetError(ValueError):
    """What was found is not (complete) CIFAR-10, or is damaged; the message names the source."""


class DamagedCacheWarning(UserWarning):
    """A cached array file could not be read; it is discarded and rebuilt from the source."""


def default_cache_dir() -> Path:
    """The per-user cache folder for decoded arrays and downloads."""
    if os.environ.get("CONVLIB_CACHE"):
        return Path(os.environ["CONVLIB_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "convlib"


def load_cifar10(root: str | os.PathLike | None = None, *, download: bool = True,
                 cache_dir: str | os.PathLike | None = None, allow_subset: bool = False) -> CIFAR10:
    """Load CIFAR-10 as ``uint8 (N, 3, 32, 32)`` images and ``int64`` labels.

    Args:
        root: a folder holding the data in one of the layouts above; ``None`` means
            ``$CONVLIB_DATA`` (if set).
        download: whether torchvision may download the original archive when nothing is found.
        cache_dir: where decoded arrays (and downloads) are kept; default :func:`default_cache_dir`.
        allow_subset: accept a source that holds only part of CIFAR-10 (fewer classes or images
            per class), on purpose; image shapes, types and labels are still checked. By default
            anything but complete CIFAR-10 is refused.

    Raises:
        DatasetNotFoundError: nothing found and download impossible, with where to put which file.
        InvalidDatasetError: the source is damaged, or (without ``allow_subset``) is not complete
            CIFAR-10; the message names the source and what is missing.
    """
    if root is not None and not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a path or None; got {type(root).__name__}")
    if not isinstance(allow_subset, bool):
        raise TypeError(f"allow_subset must be True or False; got {allow_subset!r}")
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
            return _load_cached(*found, cache=cache, allow_subset=allow_subset)

    if download:
        try:
            # deferred: importing torchvision.datasets takes seconds; only a download needs it
            from torchvision.datasets import CIFAR10 as TorchvisionCIFAR10

            cache.mkdir(parents=True, exist_ok=True)
            TorchvisionCIFAR10(str(cache), train=True, download=True)
        except Exception as error:  # no network, SSL, disk: all mean "not available"
            reason = f"the download failed ({type(error).__name__})"
            raise _not_found(places, reason=reason) from None
        found = _find_source(cache)
        if found is not None:
            return _load_cached(*found, cache=cache, allow_subset=allow_subset)
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
    """A cache key from the source's location, size and modification time (cheap, no hashing of
    data)."""
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


def _load_cached(kind: str, path: Path, cache: Path, allow_subset: bool = False) -> CIFAR10:
    lossy = kind == "JPEG archive" or (kind == "image folders" and _is_jpeg_tree(path))
    cache_file = cache / f"cifar10-{_fingerprint(kind, path)}.npz"
    arrays = _read_cache(cache_file, kind, path)
    if arrays is None:
        arrays = _read_source(kind, path)
        _check_arrays(arrays, kind, path)
        _atomic_save(cache_file, arrays)  # a faithful copy of the source, complete or not
    if not allow_subset:
        _check_complete(arrays, kind, path)
    return CIFAR10(
        train_images=torch.from_numpy(arrays["train_images"]),
        train_labels=torch.from_numpy(arrays["train_labels"]),
        test_images=torch.from_numpy(arrays["test_images"]),
        test_labels=torch.from_numpy(arrays["test_labels"]),
        classes=CLASSES, source=kind, lossy=lossy,
    )


def _read_cache(cache_file: Path, kind: str, path: Path) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None when there are none or they are damaged (then the file is
    discarded with a warning, to be rebuilt from the source)."""
    if not cache_file.is_file():
        return None
    try:
        with np.load(cache_file, allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in _ARRAY_KEYS}
        _check_arrays(arrays, kind, path)
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error) as error:
        warnings.warn(f"the cached CIFAR-10 arrays {cache_file} are damaged "
                      f"({type(error).__name__}: {error}); discarding them and rebuilding them "
                      f"from {path}", DamagedCacheWarning, stacklevel=4)
        try:
            cache_file.unlink()
        except OSError:
            pass
        return None
    return arrays


def _read_source(kind: str, path: Path) -> dict[str, np.ndarray]:
    """Decode the source; a damaged one gives one :class:`InvalidDatasetError` naming it."""
    reader = {"pickled batches": _read_batches, "image folders": _read_tree,
              "JPEG archive": _read_archive}[kind]
    try:
        return reader(path)
    except InvalidDatasetError:
        raise
    except (OSError, EOFError, tarfile.TarError, zlib.error) as error:
        what = "is damaged or truncated" if kind == "JPEG archive" else "could not be read"
        copy = f"{ARCHIVE_NAME}, " if kind == "JPEG archive" else ""
        raise InvalidDatasetError(
            f"{path} ({kind}) {what}: {type(error).__name__}: {error}. "
            f"Replace it with a complete copy ({copy}CIFAR-10)."
        ) from error


def _is_jpeg_tree(tree: Path) -> bool:
    for name in CLASSES:
        folder = tree / "train" / name
        if folder.is_dir():
            sample = next((f for f in sorted(folder.iterdir())
                           if f.suffix.lower() in IMAGE_SUFFIXES), None)
            if sample is not None:
                return sample.suffix.lower() in (".jpg", ".jpeg")
    return False


def _check_arrays(arrays: dict[str, np.ndarray], kind: str, path: Path) -> None:
    """Shapes, types and label values (always checked, subset or not)."""
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 4 or images.shape[1:] != IMAGE_SHAPE or len(images) != len(labels):
            raise InvalidDatasetError(
                f"{kind} at {path}: {split} images have shape {images.shape}, expected "
                f"(N, {', '.join(map(str, IMAGE_SHAPE))}) with N = {len(labels)} labels")
        if images.dtype != np.uint8 or labels.dtype != np.int64 or labels.ndim != 1:
            raise InvalidDatasetError(
                f"{kind} at {path}: {split} images are {images.dtype} and labels {labels.dtype} "
                f"of shape {labels.shape}; expected uint8 images and 1-D int64 labels")
        if len(labels) and (labels.min() < 0 or labels.max() >= len(CLASSES)):
            raise InvalidDatasetError(
                f"{kind} at {path}: {split} labels run from {labels.min()} to {labels.max()}; "
                f"CIFAR-10's are 0 to {len(CLASSES) - 1}")


def _no_images(kind: str, path: Path, split: str, name: str) -> str:
    """Why class ``name`` of ``split`` has no images, in the source's own terms."""
    if kind == "image folders" and not (path / split / name).is_dir():
        return f"{path / split} has no '{name}' folder"
    if kind == "image folders":
        return f"{path / split / name} holds no images"
    if kind == "JPEG archive":
        return f"{path} has no {split}/{name}/ images"
    return f"the {split} batches in {path} hold no '{name}' images"


def _check_complete(arrays: dict[str, np.ndarray], kind: str, path: Path) -> None:
    """Stop unless every class has CIFAR-10's number of training and test images."""
    problems = []
    for split, expected in (("train", TRAIN_PER_CLASS), ("test", TEST_PER_CLASS)):
        counts = np.bincount(arrays[f"{split}_labels"], minlength=len(CLASSES))
        for label, name in enumerate(CLASSES):
            if counts[label] == 0:
                problems.append(_no_images(kind, path, split, name))
            elif counts[label] != expected:
                problems.append(f"{split} has {counts[label]:,} '{name}' images, "
                                f"CIFAR-10 has {expected:,}")
    if not problems:
        return
    if kind == "pickled batches":
        expected_files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        absent = [f for f in expected_files if not (path / f).is_file()]
        if absent:
            problems.insert(0, f"{path} lacks {', '.join(absent)}")
    shown = problems[:12] + ([f"... and {len(problems) - 12} more"] if len(problems) > 12 else [])
    raise InvalidDatasetError(
        f"{kind} at {path} is not complete CIFAR-10, which has {len(CLASSES)} classes "
        f"({', '.join(CLASSES)}) with {TRAIN_PER_CLASS:,} training and {TEST_PER_CLASS:,} test "
        "images each:\n  - " + "\n  - ".join(shown) + "\n"
        "Replace it with a complete copy, or pass allow_subset=True to load_cifar10 to use part "
        "of CIFAR-10 on purpose.")


def _atomic_save(target: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write the cache atomically (:func:`convlib.io.atomic_writer`): readers never see half a
    file. A read-only cache only costs speed, so a failure to write is not an error."""
    try:
        with atomic_writer(target, binary=True) as handle:
            np.savez(handle, **arrays)
    except OSError:
        pass


def _read_batches(folder: Path) -> dict[str, np.ndarray]:
    """The original pickled batches: 5 training batches and ``test_batch``, rows of 3072 bytes."""
    def read(names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        images, labels = [], []
        for name in names:
            try:
                with open(folder / name, "rb") as f:
                    batch = pickle.load(f, encoding="latin1")
                images.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, *IMAGE_SHAPE))
                labels.append(np.asarray(batch["labels"], dtype=np.int64))
            except FileNotFoundError as error:
                raise InvalidDatasetError(f"{folder} has no {name}: the pickled batches are "
                                          "data_batch_1 ... data_batch_5 and test_batch") from error
            except (OSError, EOFError, pickle.UnpicklingError, KeyError, TypeError,
                    ValueError) as error:
                raise InvalidDatasetError(f"{folder / name} is damaged or not a CIFAR-10 batch "
                                          f"({type(error).__name__}: {error})") from error
        return np.concatenate(images), np.concatenate(labels)

    train_names = sorted(p.name for p in folder.glob("data_batch_*"))
    train_images, train_labels = read(train_names)
    test_images, test_labels = read(["test_batch"])
    return {"train_images": train_images, "train_labels": train_labels,
            "test_images": test_images, "test_labels": test_labels}


def _decode(data: bytes, where: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as image:
            pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError, SyntaxError) as error:  # PIL's errors for broken image files
        raise InvalidDatasetError(f"{where} is not a readable image ({type(error).__name__}: "
                                  f"{error})") from error
    if pixels.shape != (32, 32, 3):
        raise InvalidDatasetError(f"{where}: expected a 32x32 RGB image, got shape {pixels.shape}")
    return pixels.transpose(2, 0, 1)


def _collect(items: list[tuple[str, str, str, bytes]], source: Path) -> dict[str, np.ndarray]:
    """(split, class name, where, encoded image) to arrays, in the order given."""
    arrays = {}
    for split in ("train", "test"):
        chosen = [(c, w, d) for s, c, w, d in items if s == split]
        unknown = sorted({c for c, _, _ in chosen} - set(CLASSES))
        if unknown:
            raise InvalidDatasetError(f"{source}: unknown class folders {unknown} in {split}; "
                                      f"CIFAR-10's classes are {list(CLASSES)}")
        arrays[f"{split}_images"] = (np.stack([_decode(d, w) for _, w, d in chosen])
                                     if chosen else np.zeros((0, *IMAGE_SHAPE), np.uint8))
        arrays[f"{split}_labels"] = np.array([CLASSES.index(c) for c, _, _ in chosen],
                                             dtype=np.int64)
    return arrays


def _read_tree(tree: Path) -> dict[str, np.ndarray]:
    items = []
    for split in ("train", "test"):
        for class_dir in sorted(p for p in (tree / split).iterdir() if p.is_dir()):
            for file in sorted(class_dir.iterdir()):
                if file.suffix.lower() in IMAGE_SUFFIXES:
                    items.append((split, class_dir.name, str(file), file.read_bytes()))
    return _collect(items, tree)


def _read_archive(archive: Path) -> dict[str, np.ndarray]:
    """Decode straight from the archive: nothing is unpacked to disk."""
    items = []
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            parts = Path(member.name).parts
            suffix = Path(member.name).suffix.lower()
            if not member.isfile() or len(parts) < 3 or suffix not in IMAGE_SUFFIXES:
                continue
            split, class_name = parts[-3], parts[-2]
            if split in ("train", "test"):
                items.append((split, class_name, parts[-1], tar.extractfile(member).read()))
        # tarfile stops at the end-of-archive marker; reading on to the end of the compressed
        # stream checks its length and checksum, so a cut-off tail is noticed too
        while tar.fileobj.read(1 << 20):
            pass
    items.sort(key=lambda item: (item[0], CLASSES.index(item[1]) if item[1] in CLASSES else -1,
                                 item[2]))
    return _collect([(s, c, f"{archive}:{s}/{c}/{name}", d) for s, c, name, d in items], archive)


def subset(images: torch.Tensor, labels: torch.Tensor, size: int | None,
           seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A class-balanced random subset of ``size`` examples (all of them when ``size`` is None)."""
    if size is None or size >= len(labels):
        return images, labels
    if not isinstance(size, int) or size <= 0:
        raise ValueError(f"size must be a positive int or None; got {size!r}")
    chosen = _balanced_indices(labels, size, seed).sort().values
    return images[chosen], labels[chosen]


def _balanced_indices(labels: torch.Tensor, size: int, seed: int) -> torch.Tensor:
    """``size`` indices drawn at random, as evenly over the classes as ``size`` allows."""
    generator = torch.Generator().manual_seed(seed)
    n_classes = int(labels.max()) + 1
    picks = []
    for c in range(n_classes):
        idx = torch.nonzero(labels == c).flatten()
        take = size // n_classes + (1 if c < size % n_classes else 0)
        picks.append(idx[torch.randperm(len(idx), generator=generator)[:take]])
    return torch.cat(picks)


def holdout(
    images: torch.Tensor, labels: torch.Tensor, size: int, seed: int = 0,
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Split a set into ``(rest, held)``: ``held`` a class-balanced random ``size`` examples (as
    :func:`subset` picks them), ``rest`` every other example, both in their original order.
    The learning-rate grid trains on ``rest`` and scores on ``held``, both training images."""
    if isinstance(size, bool) or not isinstance(size, int) or not 0 < size < len(labels):
        raise ValueError(f"size must be an int in [1, {len(labels) - 1}]; got {size!r}")
    held = torch.zeros(len(labels), dtype=torch.bool)
    held[_balanced_indices(labels, size, seed)] = True
    return (images[~held], labels[~held]), (images[held], labels[held])
