"""Checks of what the estimator is given: feature columns and devices.

Each turns a low-level failure (numpy's conversion error, torch's list of device
types) into a message that names the column or the value and says what to do.
"""

from __future__ import annotations

import contextlib

import torch

_ENCODE = "first, for example with OneHotEncoder or OrdinalEncoder in a pipeline"


def _shown(names: list[str]) -> str:
    shown = ", ".join(repr(name) for name in names[:10])
    return shown + (f" and {len(names) - 10} more" if len(names) > 10 else "")


def check_time_columns(X) -> None:
    """Refuse dates and durations in ``X``, naming their columns."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is not None and hasattr(dtypes, "items"):
        timed = [
            str(name)
            for name, dtype in dtypes.items()
            if getattr(dtype, "kind", None) in ("M", "m")
            or str(dtype).startswith(("datetime", "timedelta", "period"))
        ]
    else:
        kind = getattr(getattr(X, "dtype", None), "kind", None)
        timed = ["(all)"] if kind in ("M", "m") else []
    if timed:
        raise ValueError(
            f"X has columns of dates or durations: {_shown(timed)}. Turn them "
            "into numbers first (for example days since a reference date, or "
            "the year and month as separate columns)."
        )


@contextlib.contextmanager
def naming_text_columns(X):
    """Re-raise numpy's error on text in ``X`` with the columns that hold it."""
    check_time_columns(X)
    try:
        yield
    except ValueError as exc:
        if "could not convert string to float" not in str(exc):
            raise
        dtypes = getattr(X, "dtypes", None)
        if dtypes is None or not hasattr(dtypes, "items"):
            raise ValueError(f"X holds text ({exc}); encode it {_ENCODE}.") from exc
        from pandas.api.types import is_bool_dtype, is_numeric_dtype

        text = [
            str(name)
            for name, dtype in dtypes.items()
            if not (is_numeric_dtype(dtype) or is_bool_dtype(dtype))
        ]
        raise ValueError(
            f"X has columns of text or categories that are not numbers: "
            f"{_shown(text)}; encode them {_ENCODE} ({exc})."
        ) from exc


_DEVICE_ADVICE = "use 'auto' (CUDA when there is one), 'cpu', 'cuda' or 'cuda:N'"


def resolve_device(device) -> torch.device:
    """The torch device to train on; clear errors for unknown or absent ones."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        hint = " (the GPU is 'cuda')" if str(device).lower().startswith("gpu") else ""
        raise ValueError(
            f"device={device!r} is not a device torch knows{hint}; {_DEVICE_ADVICE}."
        ) from None
    if resolved.type == "meta":
        raise ValueError(
            "device='meta' holds no data, so a network cannot train there; "
            f"{_DEVICE_ADVICE}."
        )
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available; use "
                "device='auto' to fall back to the CPU."
            )
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} was requested but there are only "
                f"{torch.cuda.device_count()} CUDA devices."
            )
        return resolved
    backend = getattr(torch, resolved.type, None)
    available = getattr(backend, "is_available", None)
    if resolved.type != "cpu" and callable(available) and not available():
        raise ValueError(
            f"device={device!r} was requested but torch reports it unavailable; "
            f"{_DEVICE_ADVICE}."
        )
    if resolved.type != "cpu":
        # Types such as 'xla' or 'hpu' parse, but need a backend installed;
        # without one, torch fails deep inside the first allocation.
        try:
            torch.empty(0, device=resolved)
        except (RuntimeError, ImportError):
            raise ValueError(
                f"device={device!r} has no working backend in this installation "
                f"of torch (it cannot hold a tensor); {_DEVICE_ADVICE}."
            ) from None
    return resolved
