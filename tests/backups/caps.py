"""Root reads every file; to test unreadable files the test drops the two capabilities
that let root ignore file permissions (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH) from the
calling thread's effective set, and sets SECBIT_NOROOT so that a program it starts (the
engine's reader process) does not get every capability back at exec, as root's would."""

from __future__ import annotations

import ctypes
import ctypes.util
from contextlib import contextmanager

_VERSION_3 = 0x20080522
_DAC = (1 << 1) | (1 << 2)
_PR_GET_SECUREBITS, _PR_SET_SECUREBITS, _SECBIT_NOROOT = 27, 28, 1


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _get():
    header, data = _Header(_VERSION_3, 0), (_Data * 2)()
    if _libc.capget(ctypes.byref(header), data):
        raise OSError(ctypes.get_errno(), "capget failed")
    return header, data


def _securebits(bits: int | None = None) -> int:
    result = _libc.prctl(_PR_SET_SECUREBITS if bits is not None else _PR_GET_SECUREBITS,
                         bits or 0, 0, 0, 0)
    if result < 0:
        raise OSError(ctypes.get_errno(), "prctl(securebits) failed")
    return result


def _set(header, data) -> None:
    if _libc.capset(ctypes.byref(header), data):
        raise OSError(ctypes.get_errno(), "capset failed")


@contextmanager
def without_dac_override():
    header, data = _get()
    saved = data[0].effective
    data[0].effective = saved & ~_DAC
    _set(header, data)
    bits = _securebits()
    _securebits(bits | _SECBIT_NOROOT)
    try:
        yield
    finally:
        _securebits(bits)
        header, data = _get()
        data[0].effective = saved
        _set(header, data)
