#!/usr/bin/env python3
"""A corpus of users' own models, with golden fixtures written by real PyTorch.

    /work/venv/bin/python python/corpus.py                 # every model; from anywhere
    /work/venv/bin/python python/corpus.py --only mlp attention --out /tmp/corpus

Layout (a contract: the Rust tests read it):

  tests/fixtures/corpus/manifest.json
      {"script": "python/corpus.py", "torch": "<torch.__version__>", "seed": <int>,
       "models": {"<name>": {"description": "<one line>",
                             "traced": true|false, "traced_reason": "<why not, or null>",
                             "requests": <count>,
                             "atol": 2e-5, "rtol": 1e-4, "tolerance_reason": null,
                             "safetensors_requests": true|false,
                             "exported": true|false, "exported_reason": "<why not, or null>",
                             "pt2_batches": [3, 1, 8] | null, "pt2_batch_range": [1, 8] | null,
                             "pt2_requests": 3 | 0}}}
  tests/fixtures/corpus/<name>/scripted.pt               torch.jit.save(torch.jit.script(model))
  tests/fixtures/corpus/<name>/traced.pt                 torch.jit.save(torch.jit.trace(model, request 0)),
                                                         only when "traced" is true
  tests/fixtures/corpus/<name>/request_<i>.json          forward's arguments (self excluded) by name
  tests/fixtures/corpus/<name>/request_<i>.safetensors   the same tensors, only when every argument is a
                                                         Tensor or List[Tensor] (a list's items are named
                                                         <name>.0, <name>.1, ...)
  tests/fixtures/corpus/<name>/expected_<i>.json         {"output": TYPED}: the eager model's output
  tests/fixtures/corpus/<name>/exported.pt2              torch.export.save(torch.export.export(model,
                                                         pt2 request 0, dynamic_shapes=...)), only when
                                                         "exported" is true (aten.linear, aten.lstm.input, ...)
  tests/fixtures/corpus/<name>/exported_core.pt2         the same program after run_decompositions():
                                                         Core ATen (aten.addmm, aten.convolution, ...)
  tests/fixtures/corpus/<name>/pt2_request_<i>.json,     requests and eager goldens for both .pt2 files
      pt2_request_<i>.safetensors, pt2_expected_<i>.json in request_<i>.*'s and expected_<i>.json's
                                                         forms and rules; "pt2_requests" of them (0 when
                                                         "exported" is false)

request_<i>.json: a tensor is nested arrays typed as `torch.tensor` types them (all-integer
literals: int64, any float literal: float32, booleans: bool; a 0-dim tensor is a bare number); a
List[Tensor] is an array of those; int, float, bool and str arguments are plain JSON values (a
float argument always as a float literal). Float values are float32 values written exactly.
expected_<i>.json: TYPED is {"dtype": "float32"|"int64"|"bool"|..., "shape": [...], "data": [flat,
row-major]} for a tensor, an array of TYPED for a tuple or list, {"dict": {key: TYPED, ...}} for a
dict (insertion order kept), a plain JSON value for int/float/bool/str, null for None.

Goldens come from the eager module after eval(), under torch.no_grad(). Every scripted and traced
file is loaded back with torch.jit.load and must reproduce every golden (allclose atol 1e-6, rtol
1e-5 for floats, exactly for integers and bools), or the run fails. A trace is made on request 0
and kept only when it reproduces the eager output on every request (the others have another batch
size, other lengths or another list length); otherwise the manifest says why not. The parity
policy's tolerance (atol 2e-5, rtol 1e-4 in f32) is each model's "atol"/"rtol"; a model that needs
a looser one says why in "tolerance_reason" (none does today).

torch.export (.pt2): a model exports when torch.export.export takes it and both files, loaded back
with torch.export.load(path).module(), reproduce the eager goldens on every pt2 request (the same
check as above); otherwise "exported" is false, "exported_reason" says why (torch.export.export's
first line: pack_padded_sequence, the data-dependent `if`), no .pt2 or pt2_* file is written,
"pt2_batches" and "pt2_batch_range" are null and "pt2_requests" 0. The pt2 requests are the
model's own request function's at batch sizes PT2_BATCHES = [3, 1, 8] ("pt2_batches": request 0,
batch > 1, is the example export traces), drawn from random.Random(f"{SEED}:{name}:pt2") (and
torch's global RNG seeded from it) after the model and its .pt requests, which stay as they were.
Dynamic dims (each Spec's pt2_dims): the batch, Dim("batch", min=1, max=8), shared by every
argument that carries it (lstm_proj_state's h0/c0 in dim 1, embedding_bag's offsets; its flat
`input` has its own Dim("ids", min=1)), and, min 1 and no max, the time axis of attention,
transformer, mha (x and mask: one Dim) and residual_mlp, and upsample_decoder's height and width;
"pt2_batch_range" is the exported batch's [min, max]. Every other dim is static, as exported from
request 0: where the model's requests vary it (the recurrent layers' time axis in gru_tagger,
lstm_proj_state, rnn_tanh, which aten.gru/lstm/rnn_tanh specialise, and cnn1d's length, which
max_pool1d specialises), the other pt2 requests are redrawn from the same stream until they fit
the exported program. Export bakes non-tensor arguments in (scalar_args' scale and k: constant
inputs) and fixes a list's length (list_input: 3, flattened to user inputs xs_0, xs_1, xs_2), so
every pt2 request has request 0's; the JSON keeps `xs` one argument, an array of tensors. In the
archives an unbounded max is written "max_val": null. Node metadata stack_trace (this file's
absolute path and line numbers) and from_node (decomposition provenance) are dropped before saving,
so a .pt2 does not change when this file is edited; nn_module_stack and torch_fn stay.

transformer and mha: in eval without grad, nn.TransformerEncoderLayer and nn.MultiheadAttention
take PyTorch's fused fast path (torch._transformer_encoder_layer_fwd,
torch._native_multi_head_attention; their scripted forwards choose it by torch.is_grad_enabled(),
requires_grad, is_nested, autocast and device checks). The goldens come from it; each is checked
against the ordinary path's (grad enabled) within the parity policy (they differ by < 1e-6). The
layer alone (no nn.TransformerEncoder) keeps padded positions' outputs: no nested-tensor zeros.
torch.export traces the ordinary path (aten.scaled_dot_product_attention, aten.baddbmm and
aten.softmax in the .pt2 graphs), checked against the fast path's goldens as above.

Seeding: SEED is recorded in the manifest. Each model draws everything (weights, running stats,
requests) from random.Random(f"{SEED}:{name}") and torch.manual_seed(a number drawn from it), so a
model's files do not depend on which other models are written. Each model is scripted in one
fresh process and traced in another (`--worker`, with PYTHONHASHSEED=0), so that TorchScript's
class names (`__torch__.MLP`, and `___torch_mangle_N` suffixes only where one process compiles
two variants of a class, as a user's would) do not depend on what else was compiled: the same
torch on the same CPU rewrites the same bytes, `--only` included. A third process exports it
(`--worker export`); its .pt2 files too are the same bytes from run to run. PyTorch's results vary
by CPU by about 1e-6, within every tolerance. Editing this file changes the .pt files' bytes (their
.debug_pkl records the source and its line numbers), not their code or the JSON files. A full run takes one to a few minutes on two cores.

`--ops` writes nothing: it prints every call the written archives' code makes (`torch.X(`,
`ops.A.B(`, builtins; taken or not) and the aten operators they actually run on the requests
(torch.profiler, outermost calls only), replaying each request_<i>.json as `torch.tensor` types
it against expected_<i>.json; then, per .pt2 flavour, its graphs' operators (node targets) and
each archive's range_constraints, replaying each pt2_request_<i>.json through
torch.export.load(path).module() against pt2_expected_<i>.json.

For python/parity.py's live variants (`--corpus`), every model is a `Spec` in SPECS with:
  spec.build(sizes)                 the eval()ed model, weights from torch's global RNG
  spec.draw_sizes(rng)              random small sizes for a variant (spec.sizes: the corpus's own)
  spec.requests(model, sizes, rng)  its requests, each {forward argument name: value}
and script_and_trace(spec, model, requests, directory) saves scripted.pt and, where valid,
traced.pt in this process as the workers do; save_pt2(spec, model, sizes, rng, directory, check)
saves exported.pt2 and exported_core.pt2 (pt2 requests drawn from rng: pt2_rng(label)) and
returns them, or why not; request_json(request, types) (forward_types(model) without scripting)
and typed(output) are the JSON forms above.
"""

import argparse
import concurrent.futures
import contextlib
import inspect
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.export import Dim
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

SEED = 20261205
SCRIPT = "python/corpus.py"
ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "corpus"
ATOL, RTOL = 2e-5, 1e-4          # the parity policy, f32
CHECK_ATOL, CHECK_RTOL = 1e-6, 1e-5  # torch.jit.load's outputs against the eager goldens

# TorchScript is deprecated in 2.15 and says so on every call; we use it on purpose.
warnings.filterwarnings("ignore", category=FutureWarning, message=".*torch.jit.*")
warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*torch.jit.*")
warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
warnings.filterwarnings("ignore", message="LSTM with projections is not supported with oneDNN")
# torch.export on nn.LSTM/GRU/RNN: their _flat_weights lists are reassigned while tracing; harmless.
warnings.filterwarnings("ignore", message=r"The tensor attributes .* were assigned during export")


# ---------------------------------------------------------------------------------------------
# The models: one class each, written as users write them.
# ---------------------------------------------------------------------------------------------

class MLP(nn.Module):
    def __init__(self, input_size: int, hidden: int, classes: int, dropout: float = 0.1):
        super().__init__()
        self.fc1 = nn.Linear(input_size, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, classes)
        self.act = nn.GELU()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = self.dropout(self.act(self.fc1(x)))
        x = self.dropout(self.act(self.fc2(x)))
        return F.softmax(self.fc3(x), dim=-1)


class TextLSTM(nn.Module):
    def __init__(self, vocab: int, embed: int, hidden: int, layers: int, classes: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed, padding_idx=0)
        self.lstm = nn.LSTM(embed, hidden, num_layers=layers, batch_first=True, bidirectional=True,
                            dropout=0.2 if layers > 1 else 0.0)
        self.dropout = nn.Dropout(0.3)
        self.fc = nn.Linear(2 * hidden, classes)

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        embedded = self.embedding(tokens)
        packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
        output, (h_n, c_n) = self.lstm(packed)
        # The last layer's forward and backward final states.
        hidden = torch.cat((h_n[-2], h_n[-1]), dim=-1)
        return self.fc(self.dropout(hidden))


class GRUTagger(nn.Module):
    def __init__(self, vocab: int, embed: int, hidden: int, tags: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.gru = nn.GRU(embed, hidden, batch_first=True)
        self.tagger = nn.Linear(hidden, tags)

    def forward(self, tokens: Tensor) -> Tensor:
        output, _ = self.gru(self.embedding(tokens))
        return self.tagger(output)


class PackedGRU(nn.Module):
    def __init__(self, input_size: int, hidden: int, layers: int):
        super().__init__()
        self.gru = nn.GRU(input_size, hidden, num_layers=layers, batch_first=True)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        output, _ = self.gru(packed)
        padded, _ = pad_packed_sequence(output, batch_first=True)
        return padded


class CNN1d(nn.Module):
    def __init__(self, channels: int, hidden: int, classes: int):
        super().__init__()
        self.conv1 = nn.Conv1d(channels, hidden, kernel_size=3, padding=1)
        self.pool = nn.MaxPool1d(2)
        self.conv2 = nn.Conv1d(hidden, 2 * hidden, kernel_size=3)
        self.gap = nn.AdaptiveAvgPool1d(1)
        self.fc = nn.Linear(2 * hidden, classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool(F.relu(self.conv1(x)))
        x = F.relu(self.conv2(x))
        x = self.gap(x).squeeze(-1)
        return self.fc(x)


class CNN2dBN(nn.Module):
    def __init__(self, channels: int, hidden: int, size: int, classes: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, hidden, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.conv2 = nn.Conv2d(hidden, 2 * hidden, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(2 * hidden)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(2 * hidden * (size // 4) * (size // 4), classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        x = self.pool(F.relu(self.bn2(self.conv2(x))))
        x = torch.flatten(x, 1)
        return self.fc(x)


class AttentionBlock(nn.Module):
    def __init__(self, dim: int, heads: int, ff: int):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, ff), nn.GELU(), nn.Linear(ff, dim))

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        B, T, D = x.shape
        q, k, v = self.qkv(self.norm1(x)).chunk(3, -1)
        q = q.view(B, T, self.heads, -1).transpose(1, 2)
        k = k.view(B, T, self.heads, -1).transpose(1, 2)
        v = v.view(B, T, self.heads, -1).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(-2, -1)) * self.scale
        scores = scores.masked_fill(mask[:, None, None, :], float("-inf"))
        attn = torch.softmax(scores, dim=-1)
        out = torch.matmul(attn, v).transpose(1, 2).reshape(B, T, D)
        x = x + self.proj(out)
        return x + self.mlp(self.norm2(x))


class Transformer(nn.Module):
    def __init__(self, d_model: int, nhead: int, dim_feedforward: int):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(d_model=d_model, nhead=nhead, dim_feedforward=dim_feedforward,
                                                batch_first=True, dropout=0.1)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        return self.layer(x, src_key_padding_mask=mask)


class ScalarArgs(nn.Module):
    def __init__(self, input_size: int, output_size: int):
        super().__init__()
        self.linear = nn.Linear(input_size, output_size)

    def forward(self, x: Tensor, scale: float, k: int) -> Tuple[Tensor, Tensor]:
        values, indices = torch.topk(self.linear(x) * scale, k)
        return values, indices


class DictOutput(nn.Module):
    def __init__(self, input_size: int, hidden: int, classes: int):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(input_size, hidden), nn.ReLU(), nn.Linear(hidden, classes))

    def forward(self, x: Tensor) -> Dict[str, Tensor]:
        logits = self.body(x)
        return {"logits": logits, "label": logits.argmax(dim=-1)}


class ControlFlow(nn.Module):
    def __init__(self, dim: int, layers: int):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(dim, dim) for _ in range(layers)])
        self.positive = nn.Linear(dim, dim)
        self.negative = nn.Linear(dim, dim)

    def forward(self, x: Tensor, steps: int) -> Tensor:
        for layer in self.layers:
            x = torch.tanh(layer(x))
        i = 0
        while i < steps:
            x = 0.5 * x + torch.sin(x)
            i += 1
        if bool(x.sum() > 0):
            x = torch.relu(self.positive(x))
        else:
            x = self.negative(x) * 2.0
        return x


class ListInput(nn.Module):
    def __init__(self, dim: int, hidden: int, classes: int):
        super().__init__()
        self.encode = nn.Linear(dim, hidden)
        self.head = nn.Linear(2 * hidden, classes)

    def forward(self, xs: List[Tensor]) -> Tensor:
        h = torch.relu(self.encode(torch.stack(xs, dim=1)))      # (B, N, hidden)
        pooled = torch.cat([h.sum(dim=1) / len(xs), h.amax(dim=1)], dim=-1)
        return self.head(pooled)


class EmbeddingBagClassifier(nn.Module):
    def __init__(self, vocab: int, dim: int, classes: int):
        super().__init__()
        self.bag = nn.EmbeddingBag(vocab, dim, mode="mean")
        self.fc = nn.Linear(dim, classes)

    def forward(self, input: Tensor, offsets: Tensor) -> Tensor:
        return self.fc(self.bag(input, offsets))


class ResidualBlock(nn.Module):
    def __init__(self, dim: int, ff: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.up = nn.Linear(dim, ff)
        self.down = nn.Linear(ff, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.down(F.silu(self.up(self.norm(x))))


class ResidualMLP(nn.Module):
    def __init__(self, dim: int, ff: int, blocks: int, classes: int, clip: float):
        super().__init__()
        self.clip = clip
        self.blocks = nn.ModuleList([ResidualBlock(dim, ff) for _ in range(blocks)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            x = torch.clamp(x + block(x), min=-self.clip, max=self.clip)
        return self.head(self.norm(x))


class LSTMProjState(nn.Module):
    def __init__(self, input_size: int, hidden: int, proj: int, layers: int):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden, num_layers=layers, batch_first=True, proj_size=proj)

    def forward(self, x: Tensor, h0: Tensor, c0: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        output, (h, c) = self.lstm(x, (h0, c0))
        return output, h, c


class UpsampleDecoder(nn.Module):
    def __init__(self, channels: int, hidden: int, out_channels: int):
        super().__init__()
        self.deconv = nn.ConvTranspose2d(channels, hidden, kernel_size=4, stride=2, padding=1)
        self.up = nn.Upsample(scale_factor=2.0, mode="bilinear", align_corners=False)
        self.conv = nn.Conv2d(hidden, out_channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.deconv(x))
        x = self.up(x)
        return torch.sigmoid(self.conv(x))


class RNNTanh(nn.Module):
    def __init__(self, input_size: int, hidden: int, layers: int, classes: int):
        super().__init__()
        self.rnn = nn.RNN(input_size, hidden, num_layers=layers, nonlinearity="tanh", batch_first=True,
                          bidirectional=True)
        self.fc = nn.Linear(2 * hidden, classes)

    def forward(self, x: Tensor) -> Tensor:
        output, _ = self.rnn(x)
        return self.fc(output[:, -1, :])


def sequential_cnn(channels: int, hidden: int, size: int, classes: int) -> nn.Sequential:
    """An nn.Sequential scripted as it is: its forward's argument is `input`."""
    return nn.Sequential(
        nn.Conv2d(channels, hidden, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(hidden, 2 * hidden, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(2 * hidden * (size // 4) * (size // 4), classes))


class MHA(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor, mask: Tensor) -> Tuple[Tensor, Tensor]:
        out, weights = self.attn(x, x, x, key_padding_mask=mask)
        assert weights is not None  # need_weights=True (the default) returns them
        return self.norm(x + out), weights


# ---------------------------------------------------------------------------------------------
# Requests: random but valid inputs.
# ---------------------------------------------------------------------------------------------

# While set (forced_batches), batch_sizes returns these instead of drawing: the .pt2 requests.
_FORCED_BATCHES: Optional[List[int]] = None


@contextlib.contextmanager
def forced_batches(sizes):
    """Within: every batch_sizes call returns `sizes` (drawing nothing), so that a model's own
    request function makes requests of these batch sizes."""
    global _FORCED_BATCHES
    saved, _FORCED_BATCHES = _FORCED_BATCHES, list(sizes)
    try:
        yield
    finally:
        _FORCED_BATCHES = saved


def batch_sizes(rng, n=3, low=1, high=6):
    """n batch sizes, the second other than the first, the first > 1 (or, within
    forced_batches, the forced ones)."""
    if _FORCED_BATCHES is not None:
        assert len(_FORCED_BATCHES) == n, f"{n} batch sizes wanted, {_FORCED_BATCHES} forced"
        return list(_FORCED_BATCHES)
    first = rng.randint(max(2, low), high)
    second = rng.choice([b for b in range(low, high + 1) if b != first])
    return [first, second] + [rng.randint(low, high) for _ in range(n - 2)]


def draw_lengths(rng, batch, steps, first):
    """Lengths in [1, steps], the longest `steps`. For the first request (batch > 2) not sorted,
    not all equal and some shorter than `steps`, so that sorting and padding matter."""
    while True:
        lengths = [rng.randint(1, steps) for _ in range(batch)]
        lengths[rng.randrange(batch)] = steps
        if not first or batch <= 2:
            return lengths
        if lengths != sorted(lengths, reverse=True) and min(lengths) < steps:
            return lengths


def padding_mask(lengths, steps):
    """True at padding: some True (when a length is short), never a whole row."""
    return torch.arange(steps)[None, :] >= torch.tensor(lengths)[:, None]


def tokens_for(lengths, steps, vocab):
    tokens = torch.randint(1, vocab, (len(lengths), steps))
    for b, n in enumerate(lengths):
        tokens[b, n:] = 0
    return tokens


def req_mlp(model, s, rng):
    return [{"x": torch.randn(b, s["input_size"])} for b in batch_sizes(rng)]


def req_text_lstm(model, s, rng):
    out = []
    for i, b in enumerate(batch_sizes(rng, low=2)):
        steps = rng.randint(3, 9)
        lengths = draw_lengths(rng, b, steps, first=i == 0)
        if i == 2:  # a time axis longer than the longest sequence
            steps += 2
        out.append({"tokens": tokens_for(lengths, steps, s["vocab"]), "lengths": torch.tensor(lengths)})
    return out


def req_gru_tagger(model, s, rng):
    return [{"tokens": torch.randint(0, s["vocab"], (b, rng.randint(2, 9)))} for b in batch_sizes(rng)]


def req_packed_gru(model, s, rng):
    out = []
    for i, b in enumerate(batch_sizes(rng, low=2)):
        steps = rng.randint(3, 9)
        lengths = draw_lengths(rng, b, steps, first=i == 0)
        x = torch.randn(b, steps + (2 if i == 2 else 0), s["input_size"])  # garbage in the padding
        out.append({"x": x, "lengths": torch.tensor(lengths)})
    return out


def req_cnn1d(model, s, rng):
    return [{"x": torch.randn(b, s["channels"], rng.randint(6, 24))} for b in batch_sizes(rng)]


def req_image(model, s, rng, name="x"):
    return [{name: torch.randn(b, s["channels"], s["size"], s["size"])} for b in batch_sizes(rng)]


def req_masked(model, s, rng):
    out = []
    for i, b in enumerate(batch_sizes(rng, low=2)):
        steps = rng.randint(3, 9)
        lengths = draw_lengths(rng, b, steps, first=True)
        out.append({"x": torch.randn(b, steps, s["dim"]), "mask": padding_mask(lengths, steps)})
    return out


def req_transformer(model, s, rng):
    return req_masked(model, {"dim": s["d_model"]}, rng)


def req_scalar_args(model, s, rng):
    n = s["output_size"]
    scales = [0.5, -1.25, 2.0, 0.75, -3.0]
    return [{"x": torch.randn(b, s["input_size"]), "scale": scales[i % len(scales)],
             "k": [min(3, n), 1, n][i % 3]} for i, b in enumerate(batch_sizes(rng))]


def req_dict_output(model, s, rng):
    return [{"x": torch.randn(b, s["input_size"])} for b in batch_sizes(rng)]


def req_control_flow(model, s, rng):
    """Both branches of the `if`, each taken by a clear margin, and 0 and several loop steps."""
    out = []
    for b, steps, positive in zip(batch_sizes(rng), [2, 0, rng.randint(3, 6)], [True, False, rng.random() < 0.5]):
        clear = None  # an input with a clear margin, whichever branch it takes
        for _ in range(1000):
            x = torch.randn(b, s["dim"]) * 2
            h = x
            with torch.no_grad():
                for layer in model.layers:
                    h = torch.tanh(layer(h))
                for _ in range(steps):
                    h = 0.5 * h + torch.sin(h)
            total = float(h.sum())
            if abs(total) > 0.05:
                clear = clear if clear is not None else x
                if (total > 0) == positive:
                    break
        else:
            # Some random variants (a narrow model) only ever take one branch: keep an input
            # that takes it by a clear margin rather than fail the variant.
            if clear is None:
                raise RuntimeError("control_flow: no input takes either branch by a clear margin")
            x = clear
        out.append({"x": x, "steps": steps})
    return out


def req_list_input(model, s, rng):
    return [{"xs": [torch.randn(b, s["dim"]) for _ in range(n)]}
            for b, n in zip(batch_sizes(rng), [3, 2, rng.randint(1, 5)])]


def req_embedding_bag(model, s, rng):
    out = []
    for i, b in enumerate(batch_sizes(rng, low=2)):
        bags = [rng.randint(1, 5) for _ in range(b)]
        if i == 2:  # an empty bag: mean mode gives zeros
            bags[rng.randrange(b)] = 0
        offsets = [sum(bags[:j]) for j in range(b)]
        ids = torch.randint(0, s["vocab"], (sum(bags),))
        out.append({"input": ids, "offsets": torch.tensor(offsets, dtype=torch.int64)})
    return out


def req_list_input_pt2(model, s, rng):
    """.pt2 requests: torch.export fixes the list's length (3, request 0's), so every one has it."""
    return [{"xs": [torch.randn(b, s["dim"]) for _ in range(3)]} for b in batch_sizes(rng)]


def req_residual_mlp(model, s, rng):
    # Inputs beyond the clip, so that the clamp acts.
    return [{"x": torch.randn(b, rng.randint(1, 5), s["dim"]) * 2.5} for b in batch_sizes(rng)]


def req_lstm_proj_state(model, s, rng):
    out = []
    for b in batch_sizes(rng):
        out.append({"x": torch.randn(b, rng.randint(2, 8), s["input_size"]),
                    "h0": torch.randn(s["layers"], b, s["proj"]) * 0.5,
                    "c0": torch.randn(s["layers"], b, s["hidden"]) * 0.5})
    return out


def req_upsample(model, s, rng):
    return [{"x": torch.randn(b, s["channels"], rng.randint(2, 5), rng.randint(2, 5))} for b in batch_sizes(rng)]


def req_rnn_tanh(model, s, rng):
    return [{"x": torch.randn(b, rng.randint(2, 8), s["input_size"])} for b in batch_sizes(rng)]


def req_sequential_cnn(model, s, rng):
    return req_image(model, s, rng, name="input")


# ---------------------------------------------------------------------------------------------
# Sizes for live variants (python/parity.py --corpus): small, random.
# ---------------------------------------------------------------------------------------------

def r(rng, low, high):
    return rng.randint(low, high)


def heads_dim(rng):
    heads = rng.choice([1, 2, 4])
    return heads, heads * rng.randint(2, 8)


def sizes_attention(rng):
    heads, dim = heads_dim(rng)
    return {"dim": dim, "heads": heads, "ff": r(rng, 4, 32)}


def sizes_transformer(rng):
    heads, dim = heads_dim(rng)
    return {"d_model": dim, "nhead": heads, "dim_feedforward": r(rng, 4, 32)}


def sizes_mha(rng):
    heads, dim = heads_dim(rng)
    return {"dim": dim, "heads": heads}


def sizes_lstm_proj(rng):
    hidden = r(rng, 2, 24)
    return {"input_size": r(rng, 1, 12), "hidden": hidden, "proj": r(rng, 1, hidden - 1), "layers": r(rng, 1, 3)}


def init_batchnorm(model):
    """Non-trivial running statistics and affine parameters, as a trained network has."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.copy_(torch.randn_like(m.running_mean) * 0.5)
                m.running_var.copy_(torch.rand_like(m.running_var) * 1.5 + 0.25)
                m.weight.copy_(torch.rand_like(m.weight) + 0.5)
                m.bias.copy_(torch.randn_like(m.bias) * 0.2)
                m.num_batches_tracked.fill_(100)


# ---------------------------------------------------------------------------------------------
# The specs
# ---------------------------------------------------------------------------------------------

@dataclass
class Spec:
    name: str
    description: str
    make: Callable[..., nn.Module]           # make(**sizes)
    sizes: dict                              # the corpus's own sizes
    draw_sizes: Callable[[random.Random], dict]
    requests_fn: Callable[[nn.Module, dict, random.Random], list]
    # None: trace it (kept only if valid on every request); else why torch.jit.trace cannot.
    untraceable: Optional[str] = None
    # What goes wrong when a trace made on request 0 fails on another request (the observed
    # failure is appended to it in the manifest).
    trace_failure: Optional[str] = None
    trace_strict: bool = True
    init: Optional[Callable[[nn.Module], None]] = None
    atol: float = ATOL
    rtol: float = RTOL
    tolerance_reason: Optional[str] = None
    # torch.export: forward argument -> {dim: Dim}, the dynamic dims (a List[Tensor]'s apply to
    # each item; one Dim object in two places: the same size); any other dim is static.
    pt2_dims: Optional[Dict[str, Dict[int, Dim]]] = None
    # The .pt2 requests' function where `requests_fn` cannot fit the exported program.
    pt2_requests_fn: Optional[Callable[[nn.Module, dict, random.Random], list]] = None
    # Why torch.export cannot take the model, where known (the observed failure is appended).
    export_failure: Optional[str] = None

    def build(self, sizes=None):
        """The model, eval()ed, its weights drawn from torch's global RNG."""
        model = self.make(**(sizes if sizes is not None else self.sizes))
        if self.init is not None:
            self.init(model)
        return model.eval()

    def requests(self, model, sizes, rng):
        return self.requests_fn(model, sizes, rng)


NON_TENSOR = "torch.jit.trace takes tensors only, and forward takes {}"

# torch.export's dynamic dims. The batch: 1 to 8 wherever a model allows one (the .pt2 requests'
# batch sizes are PT2_BATCHES, the range's ends included). The others (min 1, no max) where the
# model's requests vary them and export keeps them symbolic: the recurrent layers' CPU kernels
# (aten.lstm/gru/rnn_tanh) and max_pool1d read the time axis as a plain int, so export
# specialises it (gru_tagger, lstm_proj_state, rnn_tanh, cnn1d: static, the example's).
BATCH = Dim("batch", min=1, max=8)
SEQ = Dim("seq", min=1)          # x and mask's shared time axis: one Dim, the same size
IDS = Dim("ids", min=1)          # embedding_bag's flat id list
HEIGHT, WIDTH = Dim("height", min=1), Dim("width", min=1)
PT2_BATCHES = [3, 1, 8]          # pt2_request_0 (the export example: batch > 1), 1 and 2
MASKED_DIMS = {"x": {0: BATCH, 1: SEQ}, "mask": {0: BATCH, 1: SEQ}}
PACKED = ("nn.{} on a PackedSequence (pack_padded_sequence) does not export: it passes the packed "
          "batch_sizes[0], a tensor, to torch.zeros as a size")

SPECS = {s.name: s for s in [
    Spec("mlp", "MLP: Linear, GELU, Dropout (eval), softmax over classes",
         MLP, {"input_size": 12, "hidden": 24, "classes": 5},
         lambda g: {"input_size": r(g, 1, 16), "hidden": r(g, 4, 32), "classes": r(g, 2, 8)}, req_mlp,
         pt2_dims={"x": {0: BATCH}}),
    Spec("text_lstm", "Embedding + packed (enforce_sorted=False) bidirectional 2-layer LSTM; Linear on the "
         "last layer's h_n, both directions", TextLSTM,
         {"vocab": 30, "embed": 8, "hidden": 12, "layers": 2, "classes": 4},
         lambda g: {"vocab": r(g, 2, 50), "embed": r(g, 2, 16), "hidden": r(g, 2, 24), "layers": r(g, 1, 3),
                    "classes": r(g, 2, 6)}, req_text_lstm,
         trace_failure="the trace fixes the batch size (nn.LSTM reads batch_sizes[0] of the packed sequence "
                       "as a Python int for its zero initial state)",
         pt2_dims={"tokens": {0: BATCH}, "lengths": {0: BATCH}}, export_failure=PACKED.format("LSTM")),
    Spec("gru_tagger", "Embedding + GRU (batch_first) + Linear at every step: a tagger", GRUTagger,
         {"vocab": 25, "embed": 8, "hidden": 16, "tags": 6},
         lambda g: {"vocab": r(g, 2, 40), "embed": r(g, 2, 16), "hidden": r(g, 2, 24), "tags": r(g, 2, 8)},
         req_gru_tagger, pt2_dims={"tokens": {0: BATCH}}),
    Spec("packed_gru", "packed 2-layer GRU (pack_padded_sequence enforce_sorted=False, pad_packed_sequence "
         "back): the padded output", PackedGRU, {"input_size": 6, "hidden": 10, "layers": 2},
         lambda g: {"input_size": r(g, 1, 12), "hidden": r(g, 2, 24), "layers": r(g, 1, 3)}, req_packed_gru,
         trace_failure="the trace fixes the batch size (nn.GRU reads batch_sizes[0] of the packed sequence "
                       "as a Python int for its zero initial state)",
         pt2_dims={"x": {0: BATCH}, "lengths": {0: BATCH}}, export_failure=PACKED.format("GRU")),
    Spec("cnn1d", "1-D CNN over time series: Conv1d, ReLU, MaxPool1d, AdaptiveAvgPool1d, Linear",
         CNN1d, {"channels": 3, "hidden": 8, "classes": 4},
         lambda g: {"channels": r(g, 1, 6), "hidden": r(g, 2, 12), "classes": r(g, 2, 6)}, req_cnn1d,
         pt2_dims={"x": {0: BATCH}}),
    Spec("cnn2d_bn", "2-D CNN: Conv2d, BatchNorm2d (eval, random running stats), ReLU, MaxPool2d, flatten, "
         "Linear", CNN2dBN, {"channels": 3, "hidden": 8, "size": 8, "classes": 5},
         lambda g: {"channels": r(g, 1, 4), "hidden": r(g, 2, 8), "size": g.choice([4, 8, 12]),
                    "classes": r(g, 2, 6)}, lambda m, s, g: req_image(m, s, g), init=init_batchnorm,
         pt2_dims={"x": {0: BATCH}}),
    Spec("attention", "hand-written attention block: LayerNorm, qkv Linear + chunk, heads by view/transpose, "
         "masked_fill with a bool padding mask, softmax, residuals, MLP", AttentionBlock,
         {"dim": 16, "heads": 4, "ff": 32}, sizes_attention, req_masked, pt2_dims=MASKED_DIMS),
    Spec("transformer", "nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32, batch_first=True, "
         "dropout=0.1), eval, with src_key_padding_mask; no grad: the fused fast path "
         "(torch._transformer_encoder_layer_fwd)", Transformer,
         {"d_model": 16, "nhead": 2, "dim_feedforward": 32}, sizes_transformer, req_transformer,
         pt2_dims=MASKED_DIMS),
    Spec("scalar_args", "float and int arguments: topk(Linear(x) * scale, k), values and indices",
         ScalarArgs, {"input_size": 8, "output_size": 10},
         lambda g: {"input_size": r(g, 1, 16), "output_size": r(g, 1, 16)}, req_scalar_args,
         untraceable=NON_TENSOR.format("a float `scale` and an int `k`"), pt2_dims={"x": {0: BATCH}}),
    Spec("dict_output", "Dict[str, Tensor] output: float logits and an int64 argmax label", DictOutput,
         {"input_size": 10, "hidden": 16, "classes": 4},
         lambda g: {"input_size": r(g, 1, 16), "hidden": r(g, 4, 32), "classes": r(g, 2, 8)}, req_dict_output,
         trace_strict=False, pt2_dims={"x": {0: BATCH}}),
    Spec("control_flow", "ModuleList loop, a while loop on an int argument, an if on a tensor's value",
         ControlFlow, {"dim": 8, "layers": 3},
         lambda g: {"dim": r(g, 1, 16), "layers": r(g, 0, 4)}, req_control_flow,
         untraceable=NON_TENSOR.format("an int `steps` (a trace would also freeze the while loop and the "
                                       "if on a tensor's value)"),
         pt2_dims={"x": {0: BATCH}},
         export_failure="the `if` on a tensor's value (bool(x.sum() > 0)) is data-dependent control flow"),
    Spec("list_input", "List[Tensor] input: stack, Linear, ReLU, mean (sum / len) and max over the list, Linear",
         ListInput, {"dim": 6, "hidden": 12, "classes": 3},
         lambda g: {"dim": r(g, 1, 12), "hidden": r(g, 2, 16), "classes": r(g, 1, 6)}, req_list_input,
         trace_failure="the trace fixes the list's length", pt2_dims={"xs": {0: BATCH}},
         pt2_requests_fn=req_list_input_pt2),
    Spec("embedding_bag", "EmbeddingBag(mode='mean') with input and offsets (one empty bag), Linear",
         EmbeddingBagClassifier, {"vocab": 40, "dim": 8, "classes": 3},
         lambda g: {"vocab": r(g, 2, 60), "dim": r(g, 1, 16), "classes": r(g, 1, 6)}, req_embedding_bag,
         pt2_dims={"input": {0: IDS}, "offsets": {0: BATCH}}),
    Spec("residual_mlp", "residual blocks of LayerNorm, Linear, SiLU, Linear with clamp, LayerNorm, Linear",
         ResidualMLP, {"dim": 12, "ff": 24, "blocks": 2, "classes": 5, "clip": 2.5},
         lambda g: {"dim": r(g, 1, 16), "ff": r(g, 4, 32), "blocks": r(g, 1, 3), "classes": r(g, 1, 6),
                    "clip": g.choice([1.0, 2.5, 3.0])}, req_residual_mlp,
         pt2_dims={"x": {0: BATCH, 1: SEQ}}),
    Spec("lstm_proj_state", "2-layer nn.LSTM with proj_size, h0 and c0 as arguments; returns (output, h, c)",
         LSTMProjState, {"input_size": 5, "hidden": 12, "proj": 4, "layers": 2}, sizes_lstm_proj,
         req_lstm_proj_state, pt2_dims={"x": {0: BATCH}, "h0": {1: BATCH}, "c0": {1: BATCH}}),
    Spec("upsample_decoder", "ConvTranspose2d (stride 2), ReLU, Upsample(scale 2, bilinear), Conv2d, sigmoid",
         UpsampleDecoder, {"channels": 6, "hidden": 8, "out_channels": 3},
         lambda g: {"channels": r(g, 1, 8), "hidden": r(g, 1, 8), "out_channels": r(g, 1, 4)}, req_upsample,
         pt2_dims={"x": {0: BATCH, 2: HEIGHT, 3: WIDTH}}),
    Spec("rnn_tanh", "bidirectional 2-layer nn.RNN (tanh), Linear on the last padded step", RNNTanh,
         {"input_size": 5, "hidden": 10, "layers": 2, "classes": 4},
         lambda g: {"input_size": r(g, 1, 12), "hidden": r(g, 1, 24), "layers": r(g, 1, 3), "classes": r(g, 1, 6)},
         req_rnn_tanh, pt2_dims={"x": {0: BATCH}}),
    Spec("sequential_cnn", "nn.Sequential scripted as is (argument `input`): Conv2d, ReLU, AvgPool2d, "
         "Flatten, Linear", sequential_cnn, {"channels": 1, "hidden": 4, "size": 8, "classes": 4},
         lambda g: {"channels": r(g, 1, 4), "hidden": r(g, 1, 8), "size": g.choice([4, 8, 12]),
                    "classes": r(g, 1, 6)}, req_sequential_cnn,
         pt2_dims={"input": {0: BATCH}}),
    Spec("mha", "nn.MultiheadAttention(batch_first=True) self-attention with key_padding_mask, residual, "
         "LayerNorm; returns (output, averaged attention weights); no grad: the fused fast path "
         "(torch._native_multi_head_attention)", MHA, {"dim": 16, "heads": 4},
         sizes_mha, req_masked, pt2_dims=MASKED_DIMS),
]}


# ---------------------------------------------------------------------------------------------
# Running, comparing, tracing
# ---------------------------------------------------------------------------------------------

def as_args(request):
    return tuple(request.values())


def run(module, request):
    with torch.no_grad():
        out = module(*as_args(request))
    return plain(out)


def plain(out):
    """torch.return_types (named tuples) as plain tuples, recursively."""
    if isinstance(out, tuple):
        return tuple(plain(x) for x in out)
    if isinstance(out, list):
        return [plain(x) for x in out]
    if isinstance(out, dict):
        return {k: plain(v) for k, v in out.items()}
    return out


def mismatch(got, want, atol=CHECK_ATOL, rtol=CHECK_RTOL, path="output"):
    """None when `got` equals `want` (floats: allclose; integers and bools: exactly), else a
    sentence saying where and how they differ."""
    if isinstance(want, Tensor):
        if not isinstance(got, Tensor):
            return f"{path}: {type(got).__name__}, not a tensor"
        if got.dtype != want.dtype or got.shape != want.shape:
            return f"{path}: {got.dtype} {list(got.shape)}, not {want.dtype} {list(want.shape)}"
        if want.is_floating_point():
            if torch.allclose(got, want, atol=atol, rtol=rtol):
                return None
            diff = (got - want).abs().nan_to_num(nan=float("inf"))
            return f"{path}: differs by up to {diff.max().item():.3g}"
        if torch.equal(got, want):
            return None
        return f"{path}: {int((got != want).sum())} of {want.numel()} elements differ"
    if isinstance(want, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(want):
            return f"{path}: {type(got).__name__} of {len(got) if hasattr(got, '__len__') else '?'}, " \
                   f"not {type(want).__name__} of {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            found = mismatch(g, w, atol, rtol, f"{path}[{i}]")
            if found:
                return found
        return None
    if isinstance(want, dict):
        if not isinstance(got, dict) or list(got) != list(want):
            return f"{path}: keys {list(got) if isinstance(got, dict) else type(got).__name__}, not {list(want)}"
        for k in want:
            found = mismatch(got[k], want[k], atol, rtol, f"{path}[{k!r}]")
            if found:
                return found
        return None
    if isinstance(want, float) and isinstance(got, float):
        return None if math.isclose(got, want, rel_tol=rtol, abs_tol=atol) else f"{path}: {got} != {want}"
    return None if got == want and type(got) is type(want) else f"{path}: {got!r} != {want!r}"


class CorpusError(Exception):
    """A scripted or traced model that does not reproduce the eager goldens."""


def first_line(e):
    """An exception's message, one line: TorchScript's start with a traceback header."""
    lines = [ln.strip() for ln in str(e).strip().splitlines() if ln.strip()]
    line = lines[-1] if lines else ""
    return (line if line.startswith(type(e).__name__) else f"{type(e).__name__}: {line}")[:200]


def try_trace(spec, model, requests, goldens):
    """(traced module, None) when a trace made on request 0 reproduces every golden, else
    (None, why not)."""
    if spec.untraceable:
        return None, spec.untraceable
    try:
        with torch.no_grad():
            traced = torch.jit.trace(model, as_args(requests[0]), strict=spec.trace_strict, check_trace=False)
    except Exception as e:  # noqa: BLE001: any failure to trace is a reason
        return None, f"torch.jit.trace fails: {first_line(e)}"
    for i, (request, golden) in enumerate(zip(requests, goldens)):
        try:
            found = mismatch(run(traced, request), golden)
        except Exception as e:  # noqa: BLE001
            found = f"it raises {first_line(e)}"
        if found:
            lead = spec.trace_failure or "the trace made on request 0 does not generalise"
            return None, f"{lead}; on request {i}: {found}"
    return traced, None


def check_loaded(path, requests, goldens, what):
    """torch.jit.load(path) must reproduce every golden."""
    loaded = torch.jit.load(path, map_location="cpu")
    for i, (request, golden) in enumerate(zip(requests, goldens)):
        found = mismatch(run(loaded, request), golden)
        if found:
            raise CorpusError(f"{path}: torch.jit.load's {what} output on request {i} is not the golden: {found}")
    return loaded


def save_scripted(spec, model, requests, goldens, path):
    """torch.jit.save(torch.jit.script(model), path), checked against the goldens before and
    after loading; returns forward's (argument name, TorchScript type) pairs, self excluded."""
    scripted = torch.jit.script(model)
    for i, (request, golden) in enumerate(zip(requests, goldens)):
        found = mismatch(run(scripted, request), golden)
        if found:
            raise CorpusError(f"{spec.name}: torch.jit.script's output on request {i} is not eager's: {found}")
    torch.jit.save(scripted, path)
    check_loaded(path, requests, goldens, "scripted")
    return [(a.name, str(a.type)) for a in scripted.forward.schema.arguments][1:]


def save_traced(spec, model, requests, goldens, path):
    """torch.jit.save(torch.jit.trace(model, request 0), path) when the trace reproduces every
    golden (checked again after loading); returns None then, else why not (and writes nothing)."""
    traced, reason = try_trace(spec, model, requests, goldens)
    if traced is not None:
        torch.jit.save(traced, path)
        check_loaded(path, requests, goldens, "traced")
    return reason


def script_and_trace(spec, model, requests, directory, goldens=None):
    """directory/scripted.pt and, where a trace made on request 0 is valid on every request,
    directory/traced.pt, in this process (python/parity.py's variants). Each, loaded back, must
    reproduce `goldens` (default: the eager outputs), or CorpusError. Returns (goldens, argument
    types, traced reason or None)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if goldens is None:
        goldens = [run(model, request) for request in requests]
    types = save_scripted(spec, model, requests, goldens, directory / "scripted.pt")
    reason = save_traced(spec, model, requests, goldens, directory / "traced.pt")
    return goldens, types, reason


# ---------------------------------------------------------------------------------------------
# torch.export: exported.pt2 and exported_core.pt2
# ---------------------------------------------------------------------------------------------

PT2_FILES = {"exported.pt2": "default", "exported_core.pt2": "core"}  # file -> flavour


def forward_types(model):
    """forward's (argument name, TorchScript type name) pairs from its annotations, self excluded
    (what request_json needs, without scripting: an unannotated argument is a Tensor)."""
    names = {Tensor: "Tensor", float: "float", int: "int", bool: "bool", str: "str", List[Tensor]: "List[Tensor]"}
    return [(p.name, names.get(p.annotation, "Tensor")) for p in inspect.signature(model.forward).parameters.values()]


def is_tensors(value):
    return isinstance(value, Tensor) or (isinstance(value, list) and all(isinstance(v, Tensor) for v in value))


def dynamic_sizes(spec, request):
    """[(argument, Dim, size)] for every dynamic dim of the request (a list's items each)."""
    found = []
    for name, value in request.items():
        dims = (spec.pt2_dims or {}).get(name, {})
        items = value if isinstance(value, list) else [value] if isinstance(value, Tensor) else []
        found += [(name, d, t.shape[i]) for t in items for i, d in dims.items()]
    return found


def dynamic_shapes(spec, request):
    """torch.export's dynamic_shapes for the request: spec.pt2_dims, per list item for a list."""
    shapes = {}
    for name, value in request.items():
        dims = (spec.pt2_dims or {}).get(name)
        shapes[name] = [dims] * len(value) if isinstance(value, list) else dims if isinstance(value, Tensor) else None
    return shapes


def draw_pt2_requests(spec, model, sizes, rng, example=None):
    """A set of .pt2 requests of batch sizes PT2_BATCHES, from the model's request function
    (spec.pt2_requests_fn where given). Request 0 is export's example: every dynamic dim of it at
    least 2 (export specialises a 0 or 1); every request takes the example's non-tensor arguments
    (export bakes them into the program): `example`'s where given, else its request 0's."""
    fn = spec.pt2_requests_fn or spec.requests_fn
    for _ in range(1000):
        with forced_batches(PT2_BATCHES):
            requests = fn(model, sizes, rng)
        if all(size >= 2 for _, _, size in dynamic_sizes(spec, requests[0])):
            break
    else:
        raise CorpusError(f"{spec.name}: no .pt2 example with every dynamic dim >= 2 in 1000 draws")
    example = example or requests[0]
    return [{k: v if is_tensors(v) else example[k] for k, v in request.items()} for request in requests]


def misfit(module, request):
    """None when the request fits an exported program's inputs (tree, static sizes, dynamic
    ranges and equalities, baked constants), else why not. `module`: ExportedProgram.module()."""
    from torch.export._unlift import _check_input_constraints_for_module
    try:
        _check_input_constraints_for_module(module, as_args(request), {})
    except (RuntimeError, ValueError) as e:
        return str(e).strip().splitlines()[0]
    return None


def export_reason(spec, e):
    line = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), "")
    found = f"torch.export.export fails: {type(e).__name__}: {line}"[:200]
    return f"{spec.export_failure}; {found}" if spec.export_failure else found


def export_program(spec, model, sizes, rng):
    """(ExportedProgram, requests, None), or (None, None, why not): torch.export.export of the
    model on a .pt2 request set's request 0 with spec.pt2_dims dynamic, and the set's other
    requests redrawn (from the same stream, position by position) until each fits it."""
    import logging
    requests = draw_pt2_requests(spec, model, sizes, rng)
    # A data-dependent guard logs the whole graph as a warning before raising: the reason is enough.
    shapes_log = logging.getLogger("torch.fx.experimental.symbolic_shapes")
    level = shapes_log.level
    shapes_log.setLevel(logging.ERROR)
    try:
        program = torch.export.export(model, as_args(requests[0]), dynamic_shapes=dynamic_shapes(spec, requests[0]))
    except Exception as e:  # noqa: BLE001: any failure to export is a reason
        return None, None, export_reason(spec, e)
    finally:
        shapes_log.setLevel(level)
    module = program.module()
    for i in range(1, len(requests)):
        for _ in range(1000):
            why = misfit(module, requests[i])
            if why is None:
                break
            requests[i] = draw_pt2_requests(spec, model, sizes, rng, example=requests[0])[i]
        else:
            raise CorpusError(f"{spec.name}: no .pt2 request {i} fits the exported program in 1000 draws ({why})")
    return program, requests, None


# Node metadata dropped before saving: stack_trace holds this file's absolute path and line
# numbers (the files would change with every edit of it), from_node the decompositions' provenance
# (half of a core file's bytes). nn_module_stack and torch_fn stay, as users' files have them.
DROPPED_METADATA = ("stack_trace", "from_node")


def drop_metadata(program):
    for module in program.graph_module.modules():
        if isinstance(module, torch.fx.GraphModule):
            for node in module.graph.nodes:
                for key in DROPPED_METADATA:
                    node.meta.pop(key, None)
    return program


def program_ops(program):
    """The call_function targets of an exported program's graph, as the archive names them."""
    return {str(n.target) for n in program.graph.nodes if n.op == "call_function"}


def batch_range(spec, program, request):
    """[min, max] of the exported program's batch (max null when unbounded), None when static."""
    from torch.utils._sympy.numbers import int_oo
    # The unlifted module's placeholders: the flattened arguments, baked constants included.
    placeholders = list(program.module().graph.find_nodes(op="placeholder"))
    by_arg = {}
    for name, value in request.items():
        count = len(value) if isinstance(value, list) else 1
        by_arg[name], placeholders = placeholders[:count], placeholders[count:]
    assert not placeholders, f"{spec.name}: more placeholders than arguments"
    for name, dims in (spec.pt2_dims or {}).items():
        for dim, d in dims.items():
            if d is BATCH:
                size = by_arg[name][0].meta["val"].shape[dim]
                if not isinstance(size, torch.SymInt):
                    return None
                vr = program.range_constraints[size.node.expr]
                return [int(vr.lower), None if vr.upper == int_oo else int(vr.upper)]
    return None


def batches_of(spec, requests):
    """The requests' batch sizes (their first BATCH dim's), None without one."""
    for name, dims in (spec.pt2_dims or {}).items():
        for dim, d in dims.items():
            if d is BATCH:
                value = [r[name] for r in requests]
                return [(v[0] if isinstance(v, list) else v).shape[dim] for v in value]
    return None


def save_pt2(spec, model, sizes, rng, directory, check=True):
    """directory/exported.pt2 (torch.export.save of torch.export.export) and
    directory/exported_core.pt2 (the same after run_decompositions: Core ATen), exported on a
    .pt2 request set drawn from `rng` (draw_pt2_requests, export_program). With `check`, each
    file loaded back (torch.export.load(path).module()) must reproduce the eager outputs on every
    request, else nothing is kept and that is the reason. Returns {"reason": None or why not,
    "requests", "goldens" (eager; None without check), "batches", "batch_range", "ops": {flavour:
    targets}}; requests and the rest None when the model does not export."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    report = {"reason": None, "requests": None, "goldens": None, "batches": None, "batch_range": None, "ops": None}
    program, requests, reason = export_program(spec, model, sizes, rng)
    if program is None:
        return {**report, "reason": reason}
    try:
        programs = {"exported.pt2": program, "exported_core.pt2": program.run_decompositions()}
    except Exception as e:  # noqa: BLE001
        return {**report, "reason": f"run_decompositions fails: {first_line(e)}"}
    goldens = [run(model, request) for request in requests] if check else None
    for file, p in programs.items():
        torch.export.save(drop_metadata(p), directory / file)
        if not check:
            continue
        loaded = torch.export.load(directory / file).module()
        for i, (request, golden) in enumerate(zip(requests, goldens)):
            try:
                found = mismatch(run(loaded, request), golden)
            except Exception as e:  # noqa: BLE001
                found = f"it raises {first_line(e)}"
            if found:
                for f in PT2_FILES:
                    (directory / f).unlink(missing_ok=True)
                return {**report, "reason": f"torch.export.load({file}).module() on pt2 request {i} is not "
                                            f"the eager output: {found}"}
    return {"reason": None, "requests": requests, "goldens": goldens, "batches": batches_of(spec, requests),
            "batch_range": batch_range(spec, program, requests[0]),
            "ops": {PT2_FILES[f]: sorted(program_ops(p)) for f, p in programs.items()}}


# ---------------------------------------------------------------------------------------------
# Writing requests and goldens
# ---------------------------------------------------------------------------------------------

JSON_DTYPES = {torch.float32, torch.int64, torch.bool}


def json_tensor(t, where):
    """A tensor as `torch.tensor` would type it back: float32, int64 or bool only."""
    if t.dtype not in JSON_DTYPES:
        raise ValueError(f"{where}: {t.dtype} cannot be written as a JSON tensor")
    if t.is_floating_point() and not torch.isfinite(t).all():
        raise ValueError(f"{where}: not finite")
    return t.tolist()  # float32 values as the Python floats they are: exact


def request_json(request, types):
    """The request as a JSON object keyed by forward's argument names."""
    obj = {}
    for (name, typ), (key, value) in zip(types, request.items()):
        assert name == key, f"request keys {list(request)} are not forward's arguments {types}"
        if isinstance(value, Tensor):
            obj[name] = json_tensor(value, name)
        elif isinstance(value, list) and all(isinstance(v, Tensor) for v in value):
            obj[name] = [json_tensor(v, f"{name}[{i}]") for i, v in enumerate(value)]
        elif typ == "float":
            v = float(value)
            assert float(torch.tensor(v, dtype=torch.float32)) == v, f"{name}={v} is not a float32 value"
            obj[name] = v  # json writes a float literal: 0.5, 2.0
        elif isinstance(value, (bool, int, str)) or value is None:
            obj[name] = value
        else:
            raise TypeError(f"{name}: cannot write {type(value).__name__}")
    return obj


def request_tensors(request):
    """The request's tensors for safetensors, or None when an argument is not a tensor or a list
    of them."""
    tensors = {}
    for name, value in request.items():
        if isinstance(value, Tensor):
            tensors[name] = value.contiguous()
        elif isinstance(value, list) and value and all(isinstance(v, Tensor) for v in value):
            tensors.update({f"{name}.{i}": v.contiguous() for i, v in enumerate(value)})
        else:
            return None
    return tensors


def typed(out, where="output"):
    """expected_<i>.json's TYPED."""
    if isinstance(out, Tensor):
        if out.is_floating_point() and not torch.isfinite(out).all():
            raise ValueError(f"{where}: not finite")
        data = out.detach().reshape(-1).tolist()
        if out.is_floating_point():
            data = [float(x) for x in data]
        return {"dtype": str(out.dtype).removeprefix("torch."), "shape": list(out.shape), "data": data}
    if isinstance(out, (tuple, list)):
        return [typed(x, f"{where}[{i}]") for i, x in enumerate(out)]
    if isinstance(out, dict):
        return {"dict": {k: typed(v, f"{where}[{k!r}]") for k, v in out.items()}}
    if out is None or isinstance(out, (bool, int, float, str)):
        return out
    raise TypeError(f"{where}: cannot write {type(out).__name__}")


def write_json(path, obj, indent=None):
    Path(path).write_text(json.dumps(obj, indent=indent, allow_nan=False) + "\n")


def seed_model(name, seed=SEED):
    """The model's own random streams: a random.Random, and torch's global RNG seeded from it."""
    rng = random.Random(f"{seed}:{name}")
    torch.manual_seed(rng.getrandbits(63))
    return rng


def corpus_model(name):
    """The corpus's model `name`, its requests and eager goldens, drawn from its own seed."""
    spec = SPECS[name]
    rng = seed_model(name)
    model = spec.build()
    requests = spec.requests(model, spec.sizes, rng)
    goldens = [run(model, request) for request in requests]
    return spec, model, requests, goldens


def pt2_rng(label):
    """The .pt2 requests' own stream for a model seeded `label` (f"{SEED}:{name}"): a
    random.Random, and torch's global RNG seeded from it. Drawn after the model and its .pt
    requests, it leaves those as they were."""
    rng = random.Random(f"{label}:pt2")
    torch.manual_seed(rng.getrandbits(63))
    return rng


def write_requests(directory, requests, goldens, types, prefix=""):
    """<prefix>request_<i>.json, <prefix>request_<i>.safetensors (when every argument is a tensor
    or a list of them) and <prefix>expected_<i>.json; returns whether the safetensors were written."""
    safetensors_ok = all(request_tensors(req) is not None for req in requests)
    if safetensors_ok:
        from safetensors.torch import save_file
    for i, (request, golden) in enumerate(zip(requests, goldens)):
        write_json(directory / f"{prefix}request_{i}.json", request_json(request, types))
        if safetensors_ok:
            # One metadata key: the writer orders several differently from run to run.
            save_file(request_tensors(request), directory / f"{prefix}request_{i}.safetensors", {"script": SCRIPT})
        write_json(directory / f"{prefix}expected_{i}.json", {"output": typed(golden)})
    return safetensors_ok


def worker(job, name, directory):
    """One job in a fresh process, so that TorchScript's class names (and their
    `___torch_mangle_N` suffixes) do not depend on which other models were compiled before:
      script: scripted.pt, the requests and the goldens; prints the manifest entry (no trace fields)
      trace:  traced.pt where valid; prints {"traced_reason": ...}
      export: exported.pt2, exported_core.pt2 and the pt2 requests and goldens where the model
              exports; prints {"exported_reason", "pt2_batches", "pt2_batch_range", "pt2_requests"}
    """
    spec, model, requests, goldens = corpus_model(name)
    if job == "trace":
        print(json.dumps({"traced_reason": save_traced(spec, model, requests, goldens, directory / "traced.pt")}))
        return
    if job == "export":
        pt2 = save_pt2(spec, model, spec.sizes, pt2_rng(f"{SEED}:{name}"), directory)
        if pt2["reason"] is None:
            write_requests(directory, pt2["requests"], pt2["goldens"], forward_types(model), prefix="pt2_")
        print(json.dumps({"exported_reason": pt2["reason"], "pt2_batches": pt2["batches"],
                          "pt2_batch_range": pt2["batch_range"],
                          "pt2_requests": len(pt2["requests"] or [])}))
        return
    types = save_scripted(spec, model, requests, goldens, directory / "scripted.pt")
    safetensors_ok = write_requests(directory, requests, goldens, types)
    if name in FAST_PATHS:
        fast_path_agrees(name, model, requests, goldens)
    print(json.dumps({"description": spec.description, "requests": len(requests), "atol": spec.atol,
                      "rtol": spec.rtol, "tolerance_reason": spec.tolerance_reason,
                      "safetensors_requests": safetensors_ok}))


# Models whose PyTorch modules take a fused "fast path" in eval without grad (their forward checks
# torch.is_grad_enabled() and friends): nn.TransformerEncoderLayer runs
# torch._transformer_encoder_layer_fwd, nn.MultiheadAttention torch._native_multi_head_attention.
FAST_PATHS = {"transformer", "mha"}


def fast_path_agrees(name, model, requests, goldens):
    """The goldens (no_grad: the fast path) must equal the ordinary path's outputs (grad enabled,
    parameters requiring grad) within the parity policy."""
    for i, (request, golden) in enumerate(zip(requests, goldens)):
        with torch.enable_grad():
            slow = plain(model(*as_args(request)))
        slow = tuple(t.detach() for t in slow) if isinstance(slow, tuple) else slow.detach()
        found = mismatch(slow, golden, ATOL, RTOL)
        if found:
            raise CorpusError(f"{name} request {i}: the fast path and the ordinary path differ: {found}")


def run_worker(job, name, directory):
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", job, name, "--out", str(directory.parent)]
    # A fixed hash seed: TorchScript writes a class's Final constants in set order.
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    if done.returncode != 0:
        raise CorpusError(f"{name} ({job}) failed:\n{done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def manifest_entry(script, trace, export):
    """A model's manifest entry from its three workers' reports."""
    reason = trace["traced_reason"]
    return {"description": script["description"], "traced": reason is None, "traced_reason": reason,
            **{k: script[k] for k in ("requests", "atol", "rtol", "tolerance_reason", "safetensors_requests")},
            "exported": export["exported_reason"] is None, "exported_reason": export["exported_reason"],
            **{k: export[k] for k in ("pt2_batches", "pt2_batch_range", "pt2_requests")}}


CALL_PATTERNS = {
    "torch": re.compile(r"(?<![\w.])(torch\.(?:\w+\.)*\w+)\("),     # torch.cat(, torch._C._nn.gelu(
    "ops": re.compile(r"(?<![\w.])(ops\.\w+\.\w+)\("),             # ops.prim.NumToTensor(
    "builtin": re.compile(r"(?<![\w.])([A-Za-z_]\w*)\("),            # int(, annotate(, uninitialized(
}
NOT_CALLS = {"if", "elif", "while", "for", "return", "and", "or", "not", "in", "is", "def", "assert", "else",
             "lambda", "with", "Tensor", "Optional", "List", "Dict", "Tuple", "Final"}


def archive_calls(path):
    """{"torch": {...}, "ops": {...}, "builtin": {...}}: every call in the code/**/*.py of a
    TorchScript archive (the names of functions the archive itself defines excluded)."""
    import zipfile
    found = {kind: set() for kind in CALL_PATTERNS}
    with zipfile.ZipFile(path) as zf:
        sources = [zf.read(n).decode() for n in zf.namelist() if "/code/" in n and n.endswith(".py")]
    defined = {name for src in sources for name in re.findall(r"^\s*def (\w+)\(", src, re.M)}
    for src in sources:
        src = re.sub(r'"(?:[^"\\]|\\.)*"', '""', src)  # no calls inside string literals
        src = re.sub(r"^class \w+\(", "", src, flags=re.M)  # class headers
        src = re.sub(r"(?<![\w.])_\d+\(", "(", src)  # calls of locals: `_3 = __torch__...relu` then `_3(x)`
        for kind, pattern in CALL_PATTERNS.items():
            names = set(pattern.findall(src))
            if kind == "builtin":
                names -= NOT_CALLS | defined
            found[kind] |= names
    return found


def load_request(path, module):
    """request_<i>.json read back as `torch.tensor` types it, in forward's argument order."""
    obj = json.loads(Path(path).read_text())
    args = []
    for a in module.forward.schema.arguments[1:]:
        if a.name not in obj:
            continue
        value, typ = obj[a.name], str(a.type)
        if typ in ("Tensor", "Optional[Tensor]"):
            value = torch.tensor(value)
        elif typ == "List[Tensor]":
            value = [torch.tensor(v) for v in value]
        args.append(value)
    return tuple(args)


def executed_ops(path, directory):
    """The aten operators a TorchScript archive runs on the model's requests, outermost only (what
    its interpreter dispatches, not what those operators call inside), from torch.profiler. Each
    run on the JSON request read back must also reproduce expected_<i>.json."""
    from torch.profiler import ProfilerActivity, profile
    module = torch.jit.load(path, map_location="cpu")
    names = set()
    for request in sorted(directory.glob("request_*.json")):
        args = load_request(request, module)
        with torch.no_grad(), profile(activities=[ProfilerActivity.CPU]) as prof:
            out = plain(module(*args))
        expected = json.loads((directory / request.name.replace("request_", "expected_")).read_text())
        if json.loads(json.dumps({"output": typed(out)})) != expected:
            raise CorpusError(f"{path} on {request.name} read back does not give {request.name}'s expected output")
        names |= {e.name for e in prof.events() if e.name.startswith(("aten::", "prim::"))
                  and (e.cpu_parent is None or not e.cpu_parent.name.startswith(("aten::", "prim::")))}
    return names


def operator_report(out_dir):
    """Print every call the corpus's scripted.pt and traced.pt files make (in their code, taken
    or not), and the aten operators they run on the requests (torch.profiler), per kind of file."""
    import logging
    logging.disable(logging.WARNING)
    for which in ("scripted.pt", "traced.pt"):
        union = {kind: set() for kind in CALL_PATTERNS}
        ran, per_model = set(), {}
        for path in sorted(out_dir.glob(f"*/{which}")):
            for kind, names in archive_calls(path).items():
                union[kind] |= names
            per_model[path.parent.name] = executed_ops(path, path.parent)
            ran |= per_model[path.parent.name]
        for kind, names in union.items():
            print(f"{which} code calls, {kind} ({len(names)}): {' '.join(sorted(names))}")
        print(f"{which} runs ({len(ran)}): {' '.join(sorted(ran))}")
        for name, names in per_model.items():
            print(f"  {name}: {' '.join(sorted(n.removeprefix('aten::') for n in names))}")
    pt2_report(out_dir)


def archive_model_json(path):
    """A torch.export.save archive's <archive>/models/model.json, parsed."""
    import zipfile
    with zipfile.ZipFile(path) as zf:
        name = next(n for n in zf.namelist() if n.split("/")[1:] == ["models", "model.json"])
        return json.loads(zf.read(name))


def load_pt2_request(path, program):
    """pt2_request_<i>.json read back as `torch.tensor` types it, shaped as the program's example
    inputs (a tensor, a list of tensors, a baked constant)."""
    obj = json.loads(Path(path).read_text())
    names = program.module_call_graph[0].signature.forward_arg_names
    args = []
    for name, example in zip(names, program.example_inputs[0]):
        value = obj[name]
        if isinstance(example, Tensor):
            value = torch.tensor(value)
        elif isinstance(example, list):
            value = [torch.tensor(v) for v in value]
        args.append(value)
    return tuple(args)


def pt2_report(out_dir):
    """Print the operators (call_function targets) of the corpus's exported.pt2 and
    exported_core.pt2 graphs, per flavour, and each archive's range_constraints as written;
    replays every pt2_request_<i>.json through torch.export.load(path).module() against
    pt2_expected_<i>.json."""
    for which in PT2_FILES:
        union, per_model = set(), {}
        for path in sorted(out_dir.glob(f"*/{which}")):
            model_json = archive_model_json(path)
            per_model[path.parent.name] = ({n["target"] for n in model_json["graph_module"]["graph"]["nodes"]},
                                           model_json["range_constraints"])
            union |= per_model[path.parent.name][0]
            program = torch.export.load(path)
            module = program.module()
            for request in sorted(path.parent.glob("pt2_request_*.json")):
                with torch.no_grad():
                    out = plain(module(*load_pt2_request(request, program)))
                expected = json.loads((path.parent / request.name.replace("request_", "expected_")).read_text())
                found = mismatch(json.loads(json.dumps({"output": typed(out)})), expected)
                if found:
                    raise CorpusError(f"{path} on {request.name} read back does not give its expected output: {found}")
        print(f"{which} graph operators ({len(union)}): {' '.join(sorted(union))}")
        for name, (targets, ranges) in per_model.items():
            ops = " ".join(sorted(t.removeprefix("torch.ops.aten.") for t in targets))
            print(f"  {name}: {ops} | range_constraints {json.dumps(ranges)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"default {OUT.relative_to(ROOT)}")
    parser.add_argument("--only", nargs="+", choices=list(SPECS), metavar="NAME",
                        help="only these models (the manifest keeps the others' entries)")
    parser.add_argument("--ops", action="store_true",
                        help="print the calls the written corpus's archives make (writes nothing)")
    parser.add_argument("--worker", nargs=2, metavar=("JOB", "NAME"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    # (Not torch.use_deterministic_algorithms: CPU forward kernels are deterministic already, and
    # it imports torch._inductor, seconds per worker.)
    torch.set_num_threads(1)  # the same reduction order whatever the machine's cores
    out_dir = args.out.resolve()
    if args.ops:
        operator_report(out_dir)
        return
    try:
        if args.worker:
            worker(args.worker[0], args.worker[1], out_dir / args.worker[1])
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        manifest_path = out_dir / "manifest.json"
        entries = {}
        if args.only and manifest_path.exists():
            entries = json.loads(manifest_path.read_text()).get("models", {})
        names = args.only or list(SPECS)
        if not args.only:  # a full run: no directory of a model that is no longer here
            for stale in out_dir.iterdir():
                if stale.is_dir() and stale.name not in SPECS:
                    shutil.rmtree(stale)
        for name in names:
            directory = out_dir / name
            if directory.exists():
                shutil.rmtree(directory)
            directory.mkdir(parents=True)
        jobs = [(job, name) for name in names for job in ("script", "trace", "export")]
        with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
            reports = dict(zip(jobs, pool.map(lambda j: run_worker(j[0], j[1], out_dir / j[1]), jobs)))
        for name in names:
            entry = entries[name] = manifest_entry(reports["script", name], reports["trace", name],
                                                   reports["export", name])
            exported = f"yes, batches {entry['pt2_batches']}" if entry["exported"] else \
                f"no ({entry['exported_reason']})"
            print(f"{name:<17} {entry['requests']} requests, traced: "
                  f"{'yes' if entry['traced'] else 'no (' + entry['traced_reason'] + ')'}, exported: {exported}",
                  flush=True)
    except CorpusError as e:
        sys.exit(f"corpus.py: {e}")
    models = {name: entries[name] for name in SPECS if name in entries}
    write_json(manifest_path, {"script": SCRIPT, "torch": torch.__version__, "seed": SEED, "models": models},
               indent=1)
    print(f"wrote {len(names)} models to {out_dir} with torch {torch.__version__}, seed {SEED}")


if __name__ == "__main__":
    main()
