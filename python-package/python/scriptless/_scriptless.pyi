"""Type stubs of the extension module; the package ``scriptless`` re-exports everything."""

import os
from typing import Any, Iterable, Literal, Mapping, Optional, Sequence, Union, overload

import numpy as np
import numpy.typing as npt

# Objects with the buffer protocol (typing_extensions.Buffer, collections.abc.Buffer on 3.12).
Buffer = Any

__version__: str

ModelName = Literal["two-input", "categorical", "sequence"]
DTypeName = Literal["f32", "f64", "f16", "bf16", "float32", "float64", "float16", "bfloat16"]
PoolName = Literal["padded-last", "last-valid"]

class Model:
    """One of the seed's models, loaded by ``load`` or ``from_bytes``. Call it on NumPy arrays
    named as the seed's ``forward`` arguments. Immutable: one model may run on many threads at
    once, and each call releases the GIL while it computes."""

    @property
    def kind(self) -> ModelName:
        """The seed model: ``"two-input"``, ``"categorical"`` or ``"sequence"``."""
    @property
    def input_names(self) -> tuple[str, str]:
        """The names of ``forward``'s arguments, in the seed's order."""
    @property
    def config(self) -> dict[str, Any]:
        """The hyperparameters, as ``scriptless inspect --json`` reports them under
        ``model.config`` (a new dict on each access)."""
    @property
    def dtype(self) -> Literal["f32", "f64", "f16", "bf16"]:
        """The dtype the model computes in."""
    @property
    def pool(self) -> Optional[PoolName]:
        """The sequence model's pooling; ``None`` for the other models."""
    def forward(self, *args: npt.ArrayLike, **inputs: Any) -> npt.NDArray[np.floating[Any]]:
        """Runs the model on one request: inputs by name (``padded_seq=``, ``seq_lengths=``)
        or in the seed's order; the sequence model also takes ``sequences=``, a list of
        ``(length, features)`` arrays. Returns the output as a NumPy array."""
    def __call__(self, *args: npt.ArrayLike, **inputs: Any) -> npt.NDArray[np.floating[Any]]:
        """``model(...)`` is ``model.forward(...)``."""
    @overload
    def forward_many(
        self,
        requests: Iterable[Mapping[str, Any]],
        *,
        return_exceptions: Literal[False] = False,
    ) -> list[npt.NDArray[np.floating[Any]]]: ...
    @overload
    def forward_many(
        self,
        requests: Iterable[Mapping[str, Any]],
        *,
        return_exceptions: bool,
    ) -> list[Union[npt.NDArray[np.floating[Any]], Exception]]:
        """Runs many requests (dicts of inputs as ``forward`` takes them) in few model calls,
        each output what ``forward`` returns for it alone, bit for bit (on aarch64, bf16
        excepted), a view of the batch's output, which it keeps alive. A failed request raises, prefixed ``request N: `` (its ``request``
        attribute is N); with ``return_exceptions=True`` its exception takes its place in the
        list."""

def load(
    path: Union[str, os.PathLike[str]],
    *,
    model: Optional[ModelName] = None,
    dtype: Union[DTypeName, npt.DTypeLike] = "f32",
    pool: Optional[PoolName] = "padded-last",
    feature_width: Optional[int] = None,
    device: str = "cpu",
    max_weights_bytes: Optional[int] = None,
    max_elements: Optional[int] = None,
) -> Model:
    """Loads a model from a weights file: safetensors, ``torch.save(state_dict)``, a
    TorchScript archive or a ``torch.export.save`` archive (``.pt2``), told apart by
    content."""

def from_bytes(
    data: Union[bytes, bytearray, memoryview, Buffer],
    *,
    model: Optional[ModelName] = None,
    dtype: Union[DTypeName, npt.DTypeLike] = "f32",
    pool: Optional[PoolName] = "padded-last",
    feature_width: Optional[int] = None,
    device: str = "cpu",
    max_weights_bytes: Optional[int] = None,
    max_elements: Optional[int] = None,
) -> Model:
    """Loads a model from weights in memory (bytes, bytearray or any buffer of bytes), in any
    format ``load`` reads."""

__all__: Sequence[str]
