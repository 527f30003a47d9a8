"""CIFAR-10 batches from a user's --data-dir are read without running code from them: the
official format (a Python 2 pickle) and the same data re-pickled by Python 3 load; anything else
is refused in one line, and a crafted pickle that would run code runs nothing."""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fi_core.spec.errors import BadInput
from fi_core.store import cifar
from tests.fi_core.hostile import NO_TF_MARKER, run_main


# ---------------------------------------------------------------- the official encoding
def _string(data: bytes) -> bytes:
    """A Python 2 str (SHORT_BINSTRING / BINSTRING): bytes when read with encoding="bytes"."""
    if len(data) < 256:
        return b"U" + bytes([len(data)]) + data
    return b"T" + struct.pack("<i", len(data)) + data


def _int(value: int) -> bytes:
    if 0 <= value < 256:
        return b"K" + bytes([value])
    if 0 <= value < 65536:
        return b"M" + struct.pack("<H", value)
    return b"J" + struct.pack("<i", value)


def _global(module: bytes, name: bytes) -> bytes:
    return b"c" + module + b"\n" + name + b"\n"


def _uint8_array(images: np.ndarray) -> bytes:
    """How numpy 1.x under Python 2 pickled an array (protocol 2), opcode for opcode."""
    dtype = (_global(b"numpy", b"dtype") + _string(b"u1") + b"K\x00K\x01\x87R("
             + _int(3) + _string(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb")
    shape = b"(" + b"".join(_int(n) for n in images.shape) + b"t"
    return (_global(b"numpy.core.multiarray", b"_reconstruct") + _global(b"numpy", b"ndarray")
            + b"K\x00\x85" + _string(b"b") + b"\x87R(" + _int(1) + shape + dtype + b"\x89"
            + _string(images.tobytes()) + b"tb")


def official_batch(n: int = 6, seed: int = 0) -> tuple[bytes, np.ndarray, list[int]]:
    """A batch encoded as the files of cifar-10-python.tar.gz are (Python 2 cPickle,
    protocol 2: a dict of str keys; data a uint8 array; labels a list of ints)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, n)]
    body = (b"\x80\x02}(" + _string(b"batch_label") + _string(b"training batch 1 of 5")
            + _string(b"labels") + b"](" + b"".join(_int(v) for v in labels) + b"e"
            + _string(b"data") + _uint8_array(images)
            + _string(b"filenames") + b"](" + b"".join(_string(f"f{i}.png".encode())
                                                      for i in range(n)) + b"e"
            + b"u.")
    return body, images, labels


def test_the_official_encoding_loads(tmp_path):
    body, images, labels = official_batch()
    plain = pickle.loads(body, encoding="bytes")  # the hand-made bytes are a valid pickle
    assert np.array_equal(plain[b"data"], images) and plain[b"labels"] == labels
    path = tmp_path / "data_batch_1"
    path.write_bytes(body)
    pictures, read_labels = cifar.read_batch(path)
    assert pictures.shape == (6, 32, 32, 3) and pictures.dtype == np.uint8
    # channel-major rows (1024 red, 1024 green, 1024 blue) become height x width x channel
    assert pictures[2, 0, 1, 2] == images[2, 2048 + 1]
    assert read_labels.tolist() == labels and read_labels.dtype == np.int32


@pytest.mark.parametrize("protocol", [2, 3, 4])
def test_the_same_data_pickled_by_python_3_loads(tmp_path, protocol):
    """Protocol 2 from Python 3 writes bytes through _codecs.encode (the pipeline's fake
    archive does); 3 and 4 have bytes opcodes."""
    images = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps({b"data": images, b"labels": [3, 9], b"batch_label": b"x",
                                   b"filenames": [b"a.png", b"b.png"]}, protocol=protocol))
    pictures, labels = cifar.read_batch(path)
    assert np.array_equal(pictures.transpose(0, 3, 1, 2).reshape(2, 3072), images)
    assert labels.tolist() == [3, 9]


# ---------------------------------------------------------------- crafted files
class _Runs:
    """Pickles as a call of `function(*args)`: what a crafted batch does to run code."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def _crafted(marker: Path) -> dict[str, bytes]:
    touch = f"touch {marker}"
    body, images, _ = official_batch(2)
    good_array = _uint8_array(images)
    return {
        "os.system": pickle.dumps({b"data": _Runs(os.system, touch)}, protocol=2),
        "subprocess": pickle.dumps({b"labels": _Runs(subprocess.call, ["touch", str(marker)])}),
        "eval": pickle.dumps(_Runs(eval, f"__import__('os').system({touch!r})"), protocol=0),
        "exec in a list": pickle.dumps([1, _Runs(exec, f"open({str(marker)!r}, 'w')")]),
        "codecs other than latin1": (b"\x80\x02" + _global(b"_codecs", b"encode")
                                     + b"X\x01\x00\x00\x00a" + _string(b"zlib") + b"\x86R."),
        "ndarray called": (b"\x80\x02" + _global(b"numpy", b"ndarray") + b"(K\x05tR."),
        "reconstruct of another type": (b"\x80\x02" + _global(b"numpy.core.multiarray",
                                                              b"_reconstruct")
                                        + _global(b"numpy", b"dtype") + b"K\x00\x85"
                                        + _string(b"b") + b"\x87R."),
        "state set on a function": (b"\x80\x02" + _global(b"numpy", b"dtype")
                                    + b"}" + _string(b"x") + b"K\x01sb."),
        "object array": good_array.replace(_string(images.tobytes()), b"](K\x01K\x02e"),
        "array data of the wrong size": good_array.replace(_string(images.tobytes()),
                                                           _string(b"\x00" * 7)),
        "numpy scalar": pickle.dumps({b"labels": [np.int64(3)]}),
        "persistent id": b"\x80\x02" + b"P1\n.",
        "float dtype": pickle.dumps({b"data": np.zeros((1, 3072), np.float32)}),
        "not a dict": b"\x80\x02](K\x01e.",
        "labels out of range": pickle.dumps({b"data": np.zeros((2, 3072), np.uint8),
                                             b"labels": [1, 10]}),
        "labels not ints": pickle.dumps({b"data": np.zeros((2, 3072), np.uint8),
                                         b"labels": [1, True]}),
        "a label missing": pickle.dumps({b"data": np.zeros((2, 3072), np.uint8),
                                         b"labels": [1]}),
        "images not 3072 wide": pickle.dumps({b"data": np.zeros((2, 3071), np.uint8),
                                              b"labels": [1, 2]}),
        "truncated": body[: len(body) // 2],
        "empty": b"",
        "text": b"data,labels\n1,2\n",
    }


REASONS = {
    "os.system": "refers to posix.system, which a CIFAR-10 batch never does (not loaded)",
    "subprocess": "refers to subprocess.call,",
    "eval": "refers to __builtin__.eval,",
    "exec in a list": "refers to builtins.exec,",
    "codecs other than latin1": "_codecs.encode called other than for bytes at protocol 2",
    "ndarray called": "not callable",
    "reconstruct of another type": "numpy._reconstruct called as numpy never does",
    "state set on a function": "a state set on a function",
    "object array": "an array whose data is not bytes (an object array)",
    "array data of the wrong size": "an array of shape (2, 3072) with 7 bytes of data",
    "numpy scalar": "refers to numpy._core.multiarray.scalar,",
    "persistent id": "uses persistent ids",
    "float dtype": "dtype 'f4' is not a plain integer dtype",
    "not a dict": "not a dict of data and labels",
    "labels out of range": "a label outside [0, 10)",
    "labels not ints": "holds a bool",
    "a label missing": "1 labels for 2 images",
    "images not 3072 wide": "data is not an N x 3072 uint8 array",
    "truncated": "not a readable pickle (UnpicklingError: pickle data was truncated)",
    "empty": "not a readable pickle (EOFError",
    "text": "not a readable pickle (UnpicklingError",
}


def test_every_crafted_batch_has_its_reason():
    assert set(REASONS) == set(_crafted(Path("/x")))


@pytest.mark.parametrize(("name", "reason"), REASONS.items())
def test_a_crafted_batch_is_refused_and_runs_nothing(tmp_path, name, reason):
    marker = tmp_path / "marker"
    path = tmp_path / "data_batch_1"
    path.write_bytes(_crafted(marker)[name])
    with pytest.raises(BadInput) as refused:
        cifar.read_batch(path)
    line = str(refused.value)
    assert line.startswith(f"{path}: data_dir: not a CIFAR-10 batch: ") and "\n" not in line
    assert reason in line
    assert not marker.exists()


@pytest.fixture(scope="module")
def official(tmp_path_factory) -> tuple[Path, bytes]:
    body, _, _ = official_batch(3)
    return tmp_path_factory.mktemp("mutated") / "batch", body


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_mutated_batch_loads_or_is_refused_in_one_line(official, data):
    path, body = official
    cut = data.draw(st.integers(0, len(body)))
    kind = data.draw(st.sampled_from(["flip", "insert", "delete"]))
    if kind == "flip" and cut < len(body):
        body = body[:cut] + bytes([data.draw(st.integers(0, 255))]) + body[cut + 1:]
    elif kind == "insert":
        body = body[:cut] + data.draw(st.binary(min_size=1, max_size=8)) + body[cut:]
    else:
        body = body[:cut] + body[cut + data.draw(st.integers(1, 16)):]
    path.write_bytes(body)
    try:
        images, labels = cifar.read_batch(path)
    except BadInput as refused:
        assert "\n" not in str(refused)
    else:
        assert images.dtype == np.uint8 and images.shape[1:] == (32, 32, 3)
        assert len(labels) == len(images) and np.all((labels >= 0) & (labels < 10))


def test_a_folder_is_read_once_when_preloaded(tmp_path, monkeypatch):
    folder = tmp_path / cifar.FOLDER
    folder.mkdir()
    for i, name in enumerate((*cifar.TRAIN, cifar.TEST)):
        (folder / name).write_bytes(official_batch(4, seed=i)[0])
    monkeypatch.setitem(cifar.DATASETS, "cifar10", (20, 4, 32, 3))
    cifar.preload(tmp_path)
    for name in (*cifar.TRAIN, cifar.TEST):
        (folder / name).unlink()  # read before TensorFlow starts, not again
    train_x, train_y, test_x, test_y = cifar.read(tmp_path)
    assert train_x.shape == (20, 32, 32, 3) and test_x.shape == (4, 32, 32, 3)
    assert train_y.shape == (20,) and test_y.shape == (4,)
    with pytest.raises(BadInput, match="CIFAR-10 not found"):
        cifar.read(tmp_path)


def test_the_command_line_refuses_a_crafted_batch_before_tensorflow(tmp_path):
    marker = tmp_path / "marker"
    data_dir = tmp_path / "data"
    folder = data_dir / cifar.FOLDER
    folder.mkdir(parents=True)
    for name in (*cifar.TRAIN, cifar.TEST):
        (folder / name).write_bytes(official_batch(2)[0])
    (folder / "data_batch_1").write_bytes(_crafted(marker)["os.system"])
    out = tmp_path / "golden"
    result = run_main("golden", "--workload", "resnet18_small", "--set", "dataset=cifar10",
                      "--data-dir", str(data_dir), "--out", str(out))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"{folder / 'data_batch_1'}: data_dir: not a CIFAR-10 batch: refers to posix.system, "
        "which a CIFAR-10 batch never does (not loaded)"]
    assert NO_TF_MARKER in result.stdout
    assert not marker.exists() and not out.exists()
