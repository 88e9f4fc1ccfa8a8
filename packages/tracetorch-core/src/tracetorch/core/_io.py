"""Reading and writing states files (``.pt`` and ``.safetensors``), atomically and safely."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Callable, Mapping, Union

import torch
from torch import Tensor

PathLike = Union[str, "os.PathLike[str]"]
SUFFIXES = (".pt", ".safetensors")
RNG_PREFIX = "__rng__."


def capture_rng() -> dict[str, Tensor]:
    """torch's generator states: ``__rng__.cpu`` and, if CUDA is initialised, ``__rng__.cuda.<i>``."""
    out = {f"{RNG_PREFIX}cpu": torch.get_rng_state().clone()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, st in enumerate(torch.cuda.get_rng_state_all()):
            out[f"{RNG_PREFIX}cuda.{i}"] = st.clone()
    return out


def check_rng(rng: Mapping[str, Tensor]) -> list[str]:
    """Problems with generator states read back from a snapshot (an empty list when fine)."""
    problems = []
    cuda_count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    for key, value in rng.items():
        if not isinstance(value, Tensor) or value.dtype != torch.uint8 or value.ndim != 1:
            problems.append(f"{key}: a generator state must be a 1-D uint8 tensor, got {value!r:.80}")
            continue
        kind = key[len(RNG_PREFIX) :]
        if kind == "cpu":
            continue
        if kind.startswith("cuda.") and kind[5:].isdigit():
            if int(kind[5:]) >= cuda_count:
                problems.append(
                    f"{key}: the snapshot holds the generator of CUDA device {kind[5:]}, which this machine "
                    f"does not have ({cuda_count} CUDA devices)"
                )
            continue
        problems.append(f"{key}: unknown generator (expected {RNG_PREFIX}cpu or {RNG_PREFIX}cuda.<i>)")
    return problems


def restore_rng(rng: Mapping[str, Tensor]) -> None:
    """Restore generator states checked by `check_rng`."""
    for key, value in rng.items():
        kind = key[len(RNG_PREFIX) :]
        if kind == "cpu":
            torch.set_rng_state(value.cpu())
        else:
            torch.cuda.set_rng_state(value.cpu(), int(kind[5:]))


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(
            f"states file {str(path)!r} has an unknown extension {path.suffix!r}; use one of {', '.join(SUFFIXES)}."
        )
    return suffix


def atomic_write_path(path: Path, write: Callable[[str], object], what: str) -> None:
    """Write a file atomically: ``write(tmp)`` fills a temporary file in the same folder,
    which is fsynced and renamed over ``path`` (the folder is fsynced too where it can be).

    A failure leaves ``path`` as it was and no temporary file behind.

    Args:
        path: The file to write.
        write: Writes the content to the temporary path it is given.
        what: What the file is, for the error message (e.g. ``"states file"``).

    Raises:
        FileNotFoundError: if the folder of ``path`` does not exist.
    """
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise FileNotFoundError(f"cannot write {what} {str(path)!r}: folder {str(directory)!r} does not exist.")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def _atomic_write(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    def to_path(tmp: str) -> None:
        with open(tmp, "wb") as f:
            write(f)

    atomic_write_path(path, to_path, "states file")


def write_states(path: PathLike, states: Mapping[str, Tensor]) -> None:
    """Write ``states`` to ``path`` atomically (temporary file, fsync, rename).

    Raises:
        ValueError: for an extension other than ``.pt`` / ``.safetensors``.
    """
    p = Path(path)
    suffix = _suffix(p)
    if suffix == ".pt":
        data = {k: v.detach().cpu().clone() for k, v in states.items()}
        _atomic_write(p, lambda f: torch.save(data, f))
    else:
        from safetensors.torch import save

        payload = save(
            {k: v.detach().cpu().contiguous() for k, v in states.items()}, metadata={"format": "tracetorch-states"}
        )
        _atomic_write(p, lambda f: f.write(payload))


def read_states(path: PathLike) -> dict[str, Tensor]:
    """Read a states file written by `write_states` (or any str→tensor mapping file).

    ``.pt`` files are read with ``weights_only=True``: a file holding anything but
    tensors (a pickled object) is rejected without running any of it.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: for an unknown extension, a corrupt or truncated file, or a file
            that does not hold a mapping from names to tensors.
    """
    p = Path(path)
    suffix = _suffix(p)
    if not p.is_file():
        raise FileNotFoundError(f"states file {str(p)!r} does not exist.")
    try:
        if suffix == ".pt":
            data = torch.load(p, map_location="cpu", weights_only=True)
        else:
            from safetensors.torch import load_file

            data = load_file(p, device="cpu")
    except Exception as e:  # noqa: BLE001 - any failure to parse is a bad file
        raise ValueError(
            f"could not read states file {str(p)!r}: it is corrupt, truncated or not a traceTorch "
            f"states file ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})."
        ) from e
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in data.items()):
        raise ValueError(
            f"states file {str(p)!r} does not hold a mapping from state names to tensors "
            f"(found {type(data).__name__}); was it written by save_states()?"
        )
    return data
