"""Root reads every file; to test unreadable files the test drops the two capabilities
that let root ignore file permissions (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH) from the
calling thread's effective set. Threads it starts (the engine's reader) inherit that."""

from __future__ import annotations

import ctypes
import ctypes.util
from contextlib import contextmanager

_VERSION_3 = 0x20080522
_DAC = (1 << 1) | (1 << 2)


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


def _set(header, data) -> None:
    if _libc.capset(ctypes.byref(header), data):
        raise OSError(ctypes.get_errno(), "capset failed")


@contextmanager
def without_dac_override():
    header, data = _get()
    saved = data[0].effective
    data[0].effective = saved & ~_DAC
    _set(header, data)
    try:
        yield
    finally:
        header, data = _get()
        data[0].effective = saved
        _set(header, data)
