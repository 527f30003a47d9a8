"""A slow, obvious NumPy model of the artifact's operand layouts, independent of fi_core's code,
for checking where a fault lands and what it does."""

from __future__ import annotations

import math

import numpy as np


def same_padding(kernel: int, stride: int, size: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding (top, bottom) for one spatial axis."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv_valid(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Stride-1 VALID convolution, NHWC x HWIO, as a sum of shifted matrix products."""
    kh, kw = b.shape[:2]
    out_h, out_w = a.shape[1] - kh + 1, a.shape[2] - kw + 1
    out = np.zeros((a.shape[0], out_h, out_w, b.shape[3]), np.float64)
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("nhwc,co->nhwo", a[:, i:i + out_h, j:j + out_w, :], b[i, j])
    return out


def conv_same(x: np.ndarray, w: np.ndarray, stride: int) -> np.ndarray:
    top, bottom = same_padding(w.shape[0], stride, x.shape[1])
    padded = np.pad(x, [(0, 0), (top, bottom), (top, bottom), (0, 0)])
    out = math.ceil(x.shape[1] / stride)
    return conv_valid(padded, w)[:, ::stride, ::stride, :][:, :out, :out, :]


def interleave(dy: np.ndarray, stride: int, size: int, offset: int) -> np.ndarray:
    out = np.zeros((dy.shape[0], size, size, dy.shape[3]), dy.dtype)
    n = dy.shape[1]
    out[:, offset:offset + stride * n:stride, offset:offset + stride * n:stride, :] = dy
    return out


def pad(t: np.ndarray, p: int) -> np.ndarray:
    return np.pad(t, [(0, 0), (p, p), (p, p), (0, 0)])


def grad_in_operands(dy, w, stride, size, offset):
    p = (w.shape[0] - 1) // 2
    rotated = np.transpose(w[::-1, ::-1], (0, 1, 3, 2))
    return pad(interleave(dy, stride, size, offset), p), rotated


def grad_wt_operands(x, dy, kernel, stride, offset):
    """Input x as [Cin,H+2p,W+2p,N]; weight interleaved dY as [H,W,N,Cout]."""
    p = (kernel - 1) // 2
    a = pad(np.transpose(x, (3, 1, 2, 0)), p)
    b = np.transpose(interleave(dy, stride, x.shape[1], offset), (1, 2, 0, 3))
    return a, b
