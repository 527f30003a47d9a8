"""CIFAR-10's python batches, read without running code from them.

The official batches are pickles (Python 2, protocol 2): a dict with `data` (a uint8 numpy array
of N x 3072), `labels` (a list of ints), `batch_label` and `filenames` (strings). A pickle can
name any importable function and call it, so a crafted batch in a user's `--data-dir` would run
code under `pickle.load`. Here the unpickler resolves only the names that format needs, each to
a stand-in that checks its arguments (an array is rebuilt with `numpy.frombuffer` from plain
bytes, of a plain integer dtype): numpy's `_reconstruct`, `ndarray` and `dtype` (under numpy 1's
and numpy 2's module names), and `_codecs.encode` to Latin-1 (how Python 3 writes bytes at
protocol 2). Anything else is one line, `<file>: data_dir: <reason>`, and nothing runs. The
result is then checked: images N x 3072 uint8, N labels in [0, 10).

No TensorFlow here: the CLI reads the batches before TensorFlow starts (`preload`), and
`fi_core.engine.data` takes them from there.
"""

from __future__ import annotations

import io
import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from fi_core.spec.errors import BadInput
from fi_core.spec.workloads import DATASETS, NUM_CLASSES
from fi_core.store import files

FOLDER = "cifar-10-batches-py"
TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST = "test_batch"
DEFAULT_DIR = Path("resources/datasets/cifar10")
MAX_BATCH_BYTES = 2**28
"""An official batch is 31 MB; a larger file is refused unread."""
PIXELS = 32 * 32 * 3
DTYPES = {"u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8"}
"""The dtypes a batch may hold (images are uint8; an integer array of labels is tolerated)."""
BYTE_ORDERS = {"|": "", "<": "<", ">": ">", "=": "="}


class Refused(Exception):
    """A pickle that is not a CIFAR-10 batch (turned into `BadInput` with its file name)."""


def _text(value: Any) -> str | None:
    """A str, or a Python 2 str that arrives as bytes (`encoding="bytes"`)."""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value if isinstance(value, str) else None


class _Dtype:
    """numpy.dtype(name, align, copy) and its state, for plain integer dtypes only."""

    def __init__(self, name: Any, align: Any = False, copy: Any = True) -> None:
        name = _text(name)
        if name not in DTYPES or align not in (0, 1, False, True):
            raise Refused(f"dtype {name!r} is not a plain integer dtype")
        self.name, self.dtype = name, None

    def __setstate__(self, state: Any) -> None:
        if self.dtype is not None or not isinstance(state, tuple) or len(state) != 8:
            raise Refused("a dtype state that numpy does not write")
        version, order, subarray, names, fields, itemsize, alignment, flags = state
        order = _text(order)
        if (version != 3 or order not in BYTE_ORDERS or (subarray, names, fields) != (None,) * 3
                or (itemsize, alignment, flags) != (-1, -1, 0)):
            raise Refused("a dtype state that numpy does not write")
        self.dtype = np.dtype(BYTE_ORDERS[order] + self.name)


class _Array:
    """numpy's _reconstruct(ndarray, (0,), b"b") and the array state that follows."""

    def __init__(self) -> None:
        self.array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if self.array is not None or not isinstance(state, tuple) or len(state) != 5:
            raise Refused("an array state that numpy does not write")
        version, shape, dtype, fortran, data = state
        if (version != 1 or not isinstance(shape, tuple) or len(shape) > 4
                or not all(type(n) is int and 0 <= n < 2**31 for n in shape)):
            raise Refused("an array shape that is not a few non-negative integers")
        if not isinstance(dtype, _Dtype) or dtype.dtype is None or fortran not in (False, True):
            raise Refused("an array that is not of a plain integer dtype")
        if isinstance(data, str):
            data = data.encode("latin-1")
        if not isinstance(data, bytes | bytearray):
            raise Refused("an array whose data is not bytes (an object array)")
        if len(data) != math.prod(shape) * dtype.dtype.itemsize:
            raise Refused(f"an array of shape {shape} with {len(data)} bytes of data")
        self.array = np.frombuffer(bytes(data), dtype.dtype).reshape(
            shape, order="F" if fortran else "C")


class _NdarrayName:
    """Stands for numpy.ndarray as _reconstruct's first argument; not callable."""

    __slots__ = ()

    def __setstate__(self, state: Any) -> None:
        raise Refused("a state set on numpy.ndarray")


def _reconstruct(subtype: Any, shape: Any, typecode: Any) -> _Array:
    if not isinstance(subtype, _NdarrayName) or shape != (0,) or _text(typecode) != "b":
        raise Refused("numpy._reconstruct called as numpy never does")
    return _Array()


def _encode(text: Any, encoding: Any = "utf-8") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise Refused("_codecs.encode called other than for bytes at protocol 2")
    return text.encode("latin-1")


class _Allowed:
    """A name the unpickler may resolve; its state cannot be set by the pickle."""

    __slots__ = ("function",)

    def __init__(self, function: Any) -> None:
        self.function = function

    def __call__(self, *args: Any) -> Any:
        if self.function is None:
            raise Refused("numpy.ndarray called directly")
        return self.function(*args)

    def __setstate__(self, state: Any) -> None:
        raise Refused("a state set on a function")


_NDARRAY = _NdarrayName()
ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _Allowed(_reconstruct),
    ("numpy._core.multiarray", "_reconstruct"): _Allowed(_reconstruct),
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _Allowed(_Dtype),
    ("_codecs", "encode"): _Allowed(_encode),
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        allowed = ALLOWED.get((module, name))
        if allowed is None:
            raise Refused(f"refers to {module[:60]}.{name[:60]}, which a CIFAR-10 batch never "
                          "does (not loaded)")
        return allowed

    def persistent_load(self, pid: Any) -> Any:
        raise Refused("uses persistent ids, which a CIFAR-10 batch never does")


def _plain(value: Any, depth: int = 0) -> Any:
    """The unpickled value with stand-ins replaced by arrays; anything else the format does
    not hold is refused."""
    if depth > 4:
        raise Refused("nested deeper than a CIFAR-10 batch")
    if isinstance(value, _Array):
        if value.array is None:
            raise Refused("an array without its data")
        return value.array
    if isinstance(value, bytes | str | int) and not isinstance(value, bool):
        return value
    if isinstance(value, list):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {(_text(k) if _text(k) is not None else _refuse_key(k)): _plain(v, depth + 1)
                for k, v in value.items()}
    raise Refused(f"holds a {type(value).__name__}, which a CIFAR-10 batch never does")


def _refuse_key(key: Any) -> str:
    raise Refused(f"a key of type {type(key).__name__}")


def _unpickle(data: bytes) -> dict[str, Any]:
    try:
        value = _Unpickler(io.BytesIO(data), encoding="bytes").load()
        batch = _plain(value)
    except Refused:
        raise
    except RecursionError:
        raise Refused("nested too deeply") from None
    except Exception as error:  # a damaged pickle: any of the unpickler's many errors
        raise Refused(f"not a readable pickle ({type(error).__name__}: {error})") from None
    if not isinstance(batch, dict):
        raise Refused("not a dict of data and labels")
    return batch


def _images_and_labels(batch: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    images, labels = batch.get("data"), batch.get("labels")
    if (not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 2
            or images.shape[1] != PIXELS):
        raise Refused(f"data is not an N x {PIXELS} uint8 array")
    if isinstance(labels, np.ndarray) and labels.ndim == 1:
        labels = labels.tolist()
    if not isinstance(labels, list) or not all(type(v) is int for v in labels):
        raise Refused("labels is not a list of integers")
    if len(labels) != len(images):
        raise Refused(f"{len(labels)} labels for {len(images)} images")
    if labels and not 0 <= min(labels) <= max(labels) < NUM_CLASSES:
        raise Refused(f"a label outside [0, {NUM_CLASSES})")
    pictures = images.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return pictures, np.asarray(labels, np.int32)


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file: images (N, 32, 32, 3) uint8 and labels (N,) int32."""
    data = files.read_input(path, MAX_BATCH_BYTES, str(path))
    try:
        return _images_and_labels(_unpickle(data))
    except Refused as refused:
        raise BadInput(str(path), "data_dir", f"not a CIFAR-10 batch: {refused}") from None


Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
_preloaded: dict[str, Arrays] = {}


def _read_folder(data_dir: Path | None) -> Arrays:
    folder = (data_dir or DEFAULT_DIR) / FOLDER
    for name in (*TRAIN, TEST):
        try:
            present = (folder / name).is_file()
        except (OSError, ValueError):
            present = False
        if not present:
            raise BadInput(str(folder / name), "data_dir",
                           "CIFAR-10 not found (download it with the pipeline's download rule)")
    parts = [read_batch(folder / name) for name in (*TRAIN, TEST)]
    train_x = np.concatenate([images for images, _ in parts[:-1]])
    train_y = np.concatenate([labels for _, labels in parts[:-1]])
    test_x, test_y = parts[-1]
    expected = DATASETS["cifar10"][:2]
    if (len(train_x), len(test_x)) != expected:
        raise BadInput(str(folder), "data_dir", f"expected {expected[0]} training and "
                       f"{expected[1]} test images, found {len(train_x)} and {len(test_x)}")
    return train_x, train_y, test_x, test_y


def preload(data_dir: Path | None) -> None:
    """Read and check the batches now (before TensorFlow starts); `read` then returns them."""
    _preloaded[str(data_dir)] = _read_folder(data_dir)


def read(data_dir: Path | None) -> Arrays:
    """Train images, train labels, test images, test labels (uint8 images, int32 labels)."""
    arrays = _preloaded.pop(str(data_dir), None)
    return arrays if arrays is not None else _read_folder(data_dir)
