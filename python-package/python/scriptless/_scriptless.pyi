"""Type stubs of the extension module; the package ``scriptless`` re-exports everything."""

import os
from typing import Any, Iterable, Literal, Mapping, Optional, Sequence, Union, overload

import numpy.typing as npt

# Objects with the buffer protocol (typing_extensions.Buffer, collections.abc.Buffer on 3.12).
Buffer = Any

__version__: str

ModelName = Literal["two-input", "categorical", "sequence"]
DTypeName = Literal["f32", "f64", "f16", "bf16", "float32", "float64", "float16", "bfloat16"]
PoolName = Literal["padded-last", "last-valid"]

class Model:
    """A model loaded by ``load`` or ``from_bytes``: a user's TorchScript or ``torch.export``
    model run by its own code, or one of the seed's three models. Call it as its ``forward`` is
    called. Immutable: one model may run on many threads at once, and each call releases the
    GIL while it computes."""

    @property
    def kind(self) -> Literal["torchscript", "torch.export", "two-input", "categorical", "sequence"]:
        """``"torchscript"`` or ``"torch.export"`` for a model run by its own code; the seed
        model's name for one of the seed's."""
    @property
    def signature(self) -> dict[str, Any]:
        """What ``forward`` takes and returns: ``{"params": [...], "returns": ...}``, as
        ``scriptless inspect --json`` reports it under ``script.signature`` (a new dict on each
        access)."""
    @property
    def operators(self) -> Optional[list[dict[str, Any]]]:
        """Every operator the model's code names, ``{"name", "supported", "reached"}``;
        ``None`` for a seed model."""
    @property
    def input_names(self) -> tuple[str, str]:
        """A seed model's argument names, in the seed's order (``UnsupportedError`` for a
        model run by its own code: see ``signature``)."""
    @property
    def config(self) -> dict[str, Any]:
        """A seed model's hyperparameters, as ``scriptless inspect --json`` reports them under
        ``model.config`` (a new dict on each access; ``UnsupportedError`` for a model run by
        its own code)."""
    @property
    def dtype(self) -> Optional[Literal["f32", "f64", "f16", "bf16"]]:
        """The dtype the model computes in; for a model run by its own code, the dtype ``load``
        was given, or ``None`` where it keeps the archive's own."""
    @property
    def pool(self) -> Optional[PoolName]:
        """The sequence model's pooling; ``None`` for the seed's other models
        (``UnsupportedError`` for a model run by its own code)."""
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Runs the model on one request. A model run by its own code takes ``forward``'s
        arguments by position, then by name (NumPy arrays, numbers, strings, ``None``, and
        lists, tuples and dicts of them) and returns what its ``forward`` returns, tensors as
        NumPy arrays of their dtype. A seed model takes its inputs by name (``padded_seq=``,
        ``seq_lengths=``; the sequence model also ``sequences=``) or in the seed's order, and
        returns a NumPy array."""
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """``model(...)`` is ``model.forward(...)``."""
    @overload
    def forward_many(
        self,
        requests: Iterable[Mapping[str, Any]],
        *,
        return_exceptions: Literal[False] = False,
    ) -> list[Any]: ...
    @overload
    def forward_many(
        self,
        requests: Iterable[Mapping[str, Any]],
        *,
        return_exceptions: bool,
    ) -> list[Union[Any, Exception]]:
        """Runs many requests (mappings of arguments by name, as ``forward`` takes them) and
        returns their outputs in order, each what ``forward`` returns for it alone, bit for bit
        (a seed model runs them in few batched calls: on aarch64, bf16 excepted). A failed
        request raises, prefixed ``request N: `` (its ``request`` attribute is N); with
        ``return_exceptions=True`` its exception takes its place in the list."""
    def forward_json(self, request: str) -> str:
        """Runs one JSON request as ``scriptless run`` runs a ``.jsonl`` line and returns the
        line it prints (``{"output": ...}``, without the newline), byte for byte."""

def load(
    path: Union[str, os.PathLike[str]],
    *,
    model: Optional[ModelName] = None,
    dtype: Optional[Union[DTypeName, npt.DTypeLike]] = None,
    pool: Optional[PoolName] = None,
    feature_width: Optional[int] = None,
    device: str = "cpu",
    max_weights_bytes: Optional[int] = None,
    max_elements: Optional[int] = None,
    max_steps: Optional[int] = None,
    max_depth: Optional[int] = None,
) -> Model:
    """Loads a model from a file: a TorchScript archive or a ``torch.export.save`` archive
    (``.pt2``), run by its own code, or the seed's weights (safetensors,
    ``torch.save(state_dict)``, an archive whose code is the seed's), told apart by content."""

def from_bytes(
    data: Union[bytes, bytearray, memoryview, Buffer],
    *,
    model: Optional[ModelName] = None,
    dtype: Optional[Union[DTypeName, npt.DTypeLike]] = None,
    pool: Optional[PoolName] = None,
    feature_width: Optional[int] = None,
    device: str = "cpu",
    max_weights_bytes: Optional[int] = None,
    max_elements: Optional[int] = None,
    max_steps: Optional[int] = None,
    max_depth: Optional[int] = None,
) -> Model:
    """Loads a model from a file's bytes (bytes, bytearray or any buffer of bytes), in any
    format ``load`` reads."""

__all__: Sequence[str]
