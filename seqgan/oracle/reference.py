"""The SeqGAN reference oracle: the parameter file of the paper's code, read without running any code it holds.

The reference implementation (LantaoYu/SeqGAN, ``save/target_params_py3.pkl``, or the Python 2 pickle
``save/target_params.pkl`` with the same arrays, also used by LeakGAN's code; that repository has no licence file, so
seqgan does not ship the file: fetch it from there) stores its oracle LSTM ("target LSTM") as a pickled list of 15
float32 numpy arrays::

    0  embedding (V, E)
    1  W_i (E, H)   2  U_i (H, H)   3  b_i (H,)      input gate
    4  W_f (E, H)   5  U_f (H, H)   6  b_f (H,)      forget gate
    7  W_o (E, H)   8  U_o (H, H)   9  b_o (H,)      output gate
    10 W_c (E, H)   11 U_c (H, H)   12 b_c (H,)      candidate cell
    13 W_out (H, V) 14 b_out (V,)                    output layer

with ``gate = sigmoid(x @ W + h @ U + b)``, ``c_t = f * c_{t-1} + i * tanh(x @ W_c + h @ U_c + b_c)``,
``h_t = o * tanh(c_t)`` and logits ``h_t @ W_out + b_out``. Sampling starts from h = c = 0 with the embedding of
token 0 as the first input (``START_TOKEN = 0``) and draws every token from the full softmax at temperature 1
(``tf.multinomial`` on the log-softmax); V 5,000, E 32, H 32, T 20.

:func:`load_reference_oracle` maps that onto :class:`~seqgan.models.lstm.LSTMPolicy` exactly: torch's LSTM gate order
is (i, f, g, o), so ``weight_ih_l0 = [W_i; W_f; W_c; W_o]^T``, ``weight_hh_l0`` likewise with U, the biases go to
``bias_ih_l0`` (``bias_hh_l0`` = 0), and the policy's start vector is the embedding of token 0.

The pickle is read by :class:`ArrayUnpickler`, which resolves only the three numpy names an array pickle needs
(``_reconstruct``, ``ndarray`` and ``dtype`` of a numeric type) and the latin-1 ``_codecs.encode`` of protocol-2
pickles; any other global (a function a crafted pickle would call) stops the load with a
:class:`~seqgan.errors.DataError` before it is called.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import torch

from seqgan.errors import DataError
from seqgan.models.lstm import LSTMPolicy, LSTMShape

GATES = ("i", "f", "o", "c")  # the reference's order in the file
NUMERIC_DTYPES = frozenset(f"{order}{kind}{size}" for order in ("", "<", ">", "=", "|")
                           for kind, sizes in (("f", (2, 4, 8)), ("i", (1, 2, 4, 8)), ("u", (1, 2, 4, 8)))
                           for size in sizes)
MAX_BYTES = 512 * 2**20  # a reference file is 1.3 MB; refuse to read anything absurdly large


def _numpy():
    import numpy as np  # a dependency of transformers / datasets; imported here to keep module import light

    return np


def _reconstruct(cls, shape, typecode):
    """numpy's ``_reconstruct`` for plain ndarrays only."""
    np = _numpy()
    if cls is not np.ndarray:
        raise pickle.UnpicklingError(f"array subclass {cls!r}")
    try:
        from numpy._core.multiarray import _reconstruct as real  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct as real
    return real(cls, shape, typecode)


def _dtype(spec, align=False, copy=False):
    """``numpy.dtype`` of a numeric type code only (no object, string or structured dtypes)."""
    if not isinstance(spec, str) or spec not in NUMERIC_DTYPES:
        raise pickle.UnpicklingError(f"dtype {spec!r} (only numeric arrays are accepted)")
    return _numpy().dtype(spec, bool(align), bool(copy))


def _latin1_bytes(text, encoding):
    """``_codecs.encode`` as protocol-2 pickles written by Python 3 use it for bytes: latin-1 only."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r}")
    return text.encode("latin-1")


class ArrayUnpickler(pickle.Unpickler):
    """An unpickler that builds numpy arrays of numbers and plain containers (list, tuple, dict, str, numbers) and
    nothing else: every other global a pickle names is refused before it can be called."""

    def find_class(self, module: str, name: str):
        if (module, name) == ("_codecs", "encode"):
            return _latin1_bytes
        if (module, name) in (("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct")):
            return _reconstruct
        if (module, name) == ("numpy", "ndarray"):
            return _numpy().ndarray
        if (module, name) == ("numpy", "dtype"):
            return _dtype
        raise pickle.UnpicklingError(f"it names {module}.{name}; only numpy arrays are accepted")

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("it holds a persistent reference; only numpy arrays are accepted")


def load_arrays(path: str | Path) -> object:
    """The content of a pickle of numpy arrays and plain containers, read by :class:`ArrayUnpickler`; one-line
    :class:`DataError` when the file is missing, not a pickle, or names anything else."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: oracle parameter file not found (get save/target_params_py3.pkl from "
                        "https://github.com/LantaoYu/SeqGAN)")
    if path.stat().st_size > MAX_BYTES:
        raise DataError(f"{path}: {path.stat().st_size} bytes is not a SeqGAN oracle parameter file")
    data = path.read_bytes()
    try:
        return ArrayUnpickler(io.BytesIO(data), encoding="latin1").load()  # latin1: the Python 2 file's strings
    except pickle.UnpicklingError as err:
        raise DataError(f"{path}: refused: {err}") from None
    except Exception as err:  # truncated / corrupt: EOFError, ValueError, struct errors, ...
        raise DataError(f"{path}: not a readable pickle of numpy arrays ({type(err).__name__}: {err})") from None


def expected_shapes(shape: LSTMShape) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) of the 15 arrays of the reference layout for ``shape``."""
    V, E, H = shape.vocab_size, shape.embed_dim, shape.hidden_dim
    out = [("embedding", (V, E))]
    for g in GATES:
        out += [(f"W_{g}", (E, H)), (f"U_{g}", (H, H)), (f"b_{g}", (H,))]
    return out + [("W_out", (H, V)), ("b_out", (V,))]


def reference_shape(arrays: list, seq_len: int = 20) -> LSTMShape:
    """The LSTM sizes a 15-array reference list implies (V, E from the embedding, H from U_i)."""
    return LSTMShape(int(arrays[0].shape[0]), int(arrays[0].shape[1]), int(arrays[2].shape[0]), seq_len)


def check_layout(arrays: object, shape: LSTMShape | None, where: str) -> LSTMShape:
    """Raise :class:`DataError` unless ``arrays`` is the reference layout (of ``shape`` when given); returns the
    shape it holds."""
    np = _numpy()
    if not isinstance(arrays, (list, tuple)) or len(arrays) != 15:
        kind = f"a {type(arrays).__name__} of {len(arrays)} items" if hasattr(arrays, "__len__") else \
            f"a {type(arrays).__name__}"
        raise DataError(f"{where}: not the SeqGAN oracle layout (a list of 15 arrays: embedding, 4 x (W, U, b), "
                        f"W_out, b_out), found {kind}")
    for i, a in enumerate(arrays):
        if type(a) is not np.ndarray or a.dtype.kind != "f":
            raise DataError(f"{where}: item {i} is {type(a).__name__}"
                            f"{' of ' + str(a.dtype) if isinstance(a, np.ndarray) else ''}, expected a float array")
        if a.ndim not in (1, 2):
            raise DataError(f"{where}: item {i} has shape {a.shape}, expected a matrix or a vector")
    found = reference_shape(arrays, shape.seq_len if shape is not None else 20)
    want = shape or found
    for i, (a, (name, dims)) in enumerate(zip(arrays, expected_shapes(want))):
        if tuple(a.shape) != dims:
            raise DataError(f"{where}: {name} (item {i}) has shape {tuple(a.shape)}, expected {dims} for vocabulary "
                            f"{want.vocab_size}, embedding {want.embed_dim}, hidden {want.hidden_dim}")
        if not np.isfinite(a).all():
            raise DataError(f"{where}: {name} (item {i}) holds non-finite values")
    return want


def reference_state_dict(arrays: list) -> dict[str, torch.Tensor]:
    """The 15 reference arrays as an :class:`LSTMPolicy` state dict (gate order (i, f, g, o), start = E[0])."""
    t = [torch.from_numpy(_numpy().array(a, dtype="float32", copy=True)) for a in arrays]
    emb = t[0]
    W = {g: t[1 + 3 * k] for k, g in enumerate(GATES)}
    U = {g: t[2 + 3 * k] for k, g in enumerate(GATES)}
    b = {g: t[3 + 3 * k] for k, g in enumerate(GATES)}
    order = ("i", "f", "c", "o")  # torch: input, forget, cell (g), output
    return {
        "start": emb[0].clone(),
        "embedding.weight": emb,
        "lstm.weight_ih_l0": torch.cat([W[g].T for g in order]).contiguous(),  # (4H, E)
        "lstm.weight_hh_l0": torch.cat([U[g].T for g in order]).contiguous(),  # (4H, H)
        "lstm.bias_ih_l0": torch.cat([b[g] for g in order]),  # (4H,)
        "lstm.bias_hh_l0": torch.zeros(4 * U["i"].shape[0]),
        "head.weight": t[13].T.contiguous(),  # (V, H)
        "head.bias": t[14],
    }


def load_reference_oracle(path: str | Path, shape: LSTMShape | None = None) -> LSTMPolicy:
    """The reference oracle in ``path`` as a frozen :class:`LSTMPolicy` in eval mode, with the reference's
    sampling: h = c = 0, first input E[0], every token drawn from the temperature-1 softmax. ``shape`` (when
    given) must match the file's sizes; its ``seq_len`` is the length of the samples (the reference: 20)."""
    arrays = load_arrays(path)
    shape = check_layout(arrays, shape, str(path))
    oracle = LSTMPolicy(shape)
    oracle.load_state_dict(reference_state_dict(list(arrays)))
    oracle.requires_grad_(False)
    return oracle.eval()
