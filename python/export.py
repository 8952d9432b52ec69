#!/usr/bin/env python3
"""Export the seed's three models from real PyTorch: weights, example inputs, golden fixtures.

    python python/export.py            # from the repository root; torch==2.15.0, safetensors

Writes (and overwrites):
  weights/{two_input,categorical,sequence}.safetensors   the seed's models, seed configuration
  examples/{two_input,categorical,sequence}.json          example requests for `scriptless run`
  examples/sequence.npz                                   the sequence example as np.savez_compressed writes it
  weights/{two_input,categorical,sequence}.{pth,pt}       the same as torch.save(state_dict) and as
                                                          torch.jit.save(torch.jit.script(model))
  tests/fixtures/<case>/weights.safetensors               the case's state_dict
  tests/fixtures/<case>/weights.{pth,pt}                  the same as torch.save(state_dict) and as
                                                          TorchScript (torch.jit.save)
  tests/fixtures/<case>/input.safetensors                 the forward arguments
  tests/fixtures/<case>/expected.safetensors              PyTorch's outputs
  weights/{two_input,categorical,sequence}.pt2           the same as torch.export.save archives (see
                                                          export_pt2: the sequence model's variant)
  tests/fixtures/<case>/weights.pt2                       the same as a torch.export.save archive
  tests/fixtures/<case>/input.npz                         the forward arguments as np.savez writes them,
  tests/fixtures/<case>/input_compressed.npz              and as np.savez_compressed does
  tests/fixtures/<case>/weights_{f16,bf16,f64}.{safetensors,pth}  a few cases' weights stored in
                                                          other dtypes, and PyTorch's outputs
  tests/fixtures/<case>/expected_{f16,bf16,f64}.safetensors  for them (see stored_precision_cases)
  tests/fixtures/not_seed/<name>/{weights.pt,weights.pt2,input.safetensors,expected.safetensors}
                                                          models named like the seed's, holding its
                                                          tensors, whose code is not the seed's
                                                          (see not_seed_cases)
  tests/fixtures/manifest.json                            every case, its config, torch and seed

Every model is also run through torch.jit.script, which must give the same outputs as eager, and
every .pt2 is loaded back with torch.export.load, whose state_dict must equal the model's bit for
bit. The whole run is seeded: the same torch version regenerates the same tensors (the safetensors
writer may order the header's metadata differently from run to run, a .pt2 records a random
serialization id and a .npz the time it was written).
"""

import json
import os
import sys
import warnings
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.nn.utils.rnn as rnn_utils
import numpy as np
from safetensors.torch import save_file

SEED = 20261128
SCRIPT = "python/export.py"
ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"

# TorchScript is deprecated in 2.15 and says so on every call; we use it on purpose.
warnings.filterwarnings("ignore", category=FutureWarning, message=".*torch.jit.*")


# ---------------------------------------------------------------------------------------------
# The seed's models, exactly as the seed document writes them.
# ---------------------------------------------------------------------------------------------

class TwoInputModule(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(10, 10)

    def forward(self, tensor1, tensor2):
        return self.linear(tensor1 + tensor2)


class CategoricalInputModule(nn.Module):
    def __init__(self, num_categories):
        super().__init__()
        self.linear = nn.Linear(num_categories + 10, 10)  # +10 for other tensor input

    def forward(self, tensor_input, category_index):
        # Create a one-hot encoded vector
        one_hot = F.one_hot(category_index, num_classes=3).float()

        combined = torch.cat((tensor_input, one_hot), dim=-1)  # concatenate the one hot and tensor
        return self.linear(combined)


class SequenceInputModule(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.rnn = nn.LSTM(input_size, hidden_size, batch_first=True)
        self.linear = nn.Linear(hidden_size, 10)

    def forward(self, padded_seq, seq_lengths):
        packed_seq = rnn_utils.pack_padded_sequence(padded_seq, seq_lengths, batch_first=True, enforce_sorted=False)
        output, _ = self.rnn(packed_seq)
        unpacked_seq, _ = rnn_utils.pad_packed_sequence(output, batch_first=True)
        return self.linear(unpacked_seq[:, -1, :])  # return only the last element


# ---------------------------------------------------------------------------------------------
# The same models with the seed's constants made parameters, for the generalised fixtures.
# ---------------------------------------------------------------------------------------------

class GeneralTwoInput(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, tensor1, tensor2):
        return self.linear(tensor1 + tensor2)


class GeneralCategorical(nn.Module):
    # A constant, as the seed's literal 3 is: TorchScript writes it into the code as a literal,
    # so that the scripted model's code is the seed's.
    num_categories: torch.jit.Final[int]

    def __init__(self, num_categories, feature_width=10, out_features=10):
        super().__init__()
        self.num_categories = num_categories
        self.linear = nn.Linear(num_categories + feature_width, out_features)

    def forward(self, tensor_input, category_index):
        one_hot = F.one_hot(category_index, num_classes=self.num_categories).float()
        combined = torch.cat((tensor_input, one_hot), dim=-1)
        return self.linear(combined)


class GeneralSequence(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, proj_size=0,
                 bias=True, out_features=10):
        super().__init__()
        self.rnn = nn.LSTM(input_size, hidden_size, num_layers=num_layers, bias=bias,
                           batch_first=True, bidirectional=bidirectional, proj_size=proj_size)
        d = 2 if bidirectional else 1
        self.linear = nn.Linear(d * (proj_size or hidden_size), out_features)

    def forward(self, padded_seq, seq_lengths):
        packed_seq = rnn_utils.pack_padded_sequence(padded_seq, seq_lengths, batch_first=True, enforce_sorted=False)
        output, _ = self.rnn(packed_seq)
        unpacked_seq, _ = rnn_utils.pad_packed_sequence(output, batch_first=True)
        return self.linear(unpacked_seq[:, -1, :])


class ExportableSequence(GeneralSequence):
    """GeneralSequence without the packing, for torch.export, which cannot trace
    `pack_padded_sequence` (torch 2.15.0: "zeros(): argument 'size' ... got FakeTensor"). Same
    modules, so the same state_dict names; it runs the LSTM over the padding too, so its own
    outputs equal the packed model's only when every sequence fills the padded length. scriptless
    refuses a .pt2 written from it as not the seed's model, and runs its weights with the packed
    semantics when told `--model sequence`."""

    def forward(self, padded_seq, seq_lengths):
        output, _ = self.rnn(padded_seq)
        return self.linear(output[:, -1, :])


# ---------------------------------------------------------------------------------------------
# Models that are not the seed's, though their classes are named like the seed's and they hold
# the seed's tensors: scriptless must refuse their archives rather than run the seed's forward.
# ---------------------------------------------------------------------------------------------

def named_like(seed_class):
    """A class decorator: the class gets `seed_class`'s name (TorchScript mangles it apart)."""
    def rename(cls):
        cls.__name__ = cls.__qualname__ = seed_class.__name__
        return cls
    return rename


@named_like(SequenceInputModule)
class SequenceFinalHidden(SequenceInputModule):
    """The Linear on the LSTM's final hidden state h_n, not on the padded last step."""

    def forward(self, padded_seq, seq_lengths):
        packed_seq = rnn_utils.pack_padded_sequence(padded_seq, seq_lengths, batch_first=True, enforce_sorted=False)
        output, (h_n, c_n) = self.rnn(packed_seq)
        return self.linear(h_n[-1])


@named_like(SequenceInputModule)
class SequenceRelu(SequenceInputModule):
    """The seed's forward with a ReLU before the Linear."""

    def forward(self, padded_seq, seq_lengths):
        packed_seq = rnn_utils.pack_padded_sequence(padded_seq, seq_lengths, batch_first=True, enforce_sorted=False)
        output, _ = self.rnn(packed_seq)
        unpacked_seq, _ = rnn_utils.pad_packed_sequence(output, batch_first=True)
        return self.linear(torch.relu(unpacked_seq[:, -1, :]))


@named_like(SequenceInputModule)
class SequenceLastValid(SequenceInputModule):
    """Each row's own last valid step, picked by hand (what `--pool last-valid` computes)."""

    def forward(self, padded_seq, seq_lengths):
        packed_seq = rnn_utils.pack_padded_sequence(padded_seq, seq_lengths, batch_first=True, enforce_sorted=False)
        output, _ = self.rnn(packed_seq)
        unpacked_seq, lengths = rnn_utils.pad_packed_sequence(output, batch_first=True)
        last = unpacked_seq[torch.arange(unpacked_seq.size(0)), lengths - 1]
        return self.linear(last)


@named_like(TwoInputModule)
class TwoInputProduct(TwoInputModule):
    """The Linear on the inputs' product, not their sum."""

    def forward(self, tensor1, tensor2):
        return self.linear(tensor1 * tensor2)


# name: (class, the seed case whose inputs it runs on, the formats written)
NOT_SEED = {
    "sequence_final_hidden": (SequenceFinalHidden, "sequence_seed", ["pt"]),
    "sequence_relu": (SequenceRelu, "sequence_seed", ["pt"]),
    "sequence_last_valid": (SequenceLastValid, "sequence_seed", ["pt"]),
    "two_input_product": (TwoInputProduct, "two_input_seed", ["pt", "pt2"]),
}


def not_seed_cases(seeds):
    """tests/fixtures/not_seed/<name>/: each model above holding the seed model's state_dict
    (`seeds[kind]`), saved as TorchScript (and as torch.export where it can be), run on the seed
    case's inputs: `output` is its own output (what its archive computes), `seed_output` the
    seed's model's on the same tensors (what `--model KIND` computes from the archive)."""
    cases = []
    for name, (cls, inputs_case, formats) in NOT_SEED.items():
        kind = "sequence" if issubclass(cls, SequenceInputModule) else "two-input"
        seed = seeds[kind]
        model = (cls(10, 20) if kind == "sequence" else cls()).eval()
        model.load_state_dict(seed.state_dict())
        inputs = _load_inputs(inputs_case)
        args = tuple(inputs[k] for k in FORWARD_ARGS[kind])
        with torch.no_grad():
            out = model(*args)
            check_scripted(name, model, args, out)
            expected = {"output": out, "seed_output": seed(*args)}
        if torch.allclose(expected["output"], expected["seed_output"], rtol=1e-4, atol=2e-5):
            sys.exit(f"{name}: its output equals the seed's on {inputs_case}'s inputs; pick others")
        case_dir = FIXTURES / "not_seed" / name
        case_dir.mkdir(parents=True, exist_ok=True)
        if "pt" in formats:
            torch.jit.save(torch.jit.script(model), case_dir / "weights.pt")
        if "pt2" in formats:
            with torch.random.fork_rng():
                torch.export.save(torch.export.export(model, args), case_dir / "weights.pt2")
        save_file({k: v.contiguous() for k, v in inputs.items()}, case_dir / "input.safetensors",
                  meta(kind, case=name))
        save_file({k: v.contiguous() for k, v in expected.items()}, case_dir / "expected.safetensors",
                  meta(kind, case=name))
        cases.append({"name": name, "model": kind, "class": cls.__name__, "inputs_from": inputs_case,
                      "formats": formats, "differs": cls.__doc__.strip()})
    return cases


def lstm_outputs(model, padded_seq, seq_lengths):
    """The LSTM's own results and the last-valid pooling, from the same packed run."""
    packed = rnn_utils.pack_padded_sequence(padded_seq, seq_lengths, batch_first=True, enforce_sorted=False)
    output, (h_n, c_n) = model.rnn(packed)
    unpacked, lengths = rnn_utils.pad_packed_sequence(output, batch_first=True)
    last_valid = unpacked[torch.arange(unpacked.shape[0]), lengths - 1]
    return {
        "lstm_output": unpacked,
        "h_n": h_n,
        "c_n": c_n,
        "output_last_valid": model.linear(last_valid),
    }


# ---------------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------------

def meta(model_kind, **extra):
    m = {"model": model_kind, "torch_version": torch.__version__, "script": SCRIPT, "seed": str(SEED)}
    m.update({k: str(v) for k, v in extra.items()})
    return m


def save_pytorch(model, stem):
    """The state_dict as `torch.save` writes it (`<stem>.pth`) and the model as TorchScript
    (`<stem>.pt`), the two PyTorch files scriptless reads besides safetensors."""
    torch.save(model.state_dict(), f"{stem}.pth")
    torch.jit.save(torch.jit.script(model), f"{stem}.pt")


def export_pt2(kind, model, inputs, config, path):
    """`torch.export.save(torch.export.export(model, inputs), path)`, for the sequence model through
    ExportableSequence holding its state_dict (torch.export cannot trace the packing). Loaded back
    with torch.export.load, the archive's state_dict must equal the model's bit for bit, and for the
    two Linear models its program must reproduce the model's output."""
    args = tuple(inputs[k] for k in FORWARD_ARGS[kind])
    # Nothing here may draw from the generator the fixtures come from (the variant's init does).
    with torch.random.fork_rng(), warnings.catch_warnings():
        if kind == "sequence":
            exported = ExportableSequence(config["input_size"], config["hidden_size"], config["num_layers"],
                                          config["bidirectional"], config["proj_size"], config["bias"],
                                          config["out_features"])
            exported.load_state_dict(model.state_dict())
        else:
            exported = model
        exported.eval()
        # nn.LSTM's _flat_weights list repeats its parameters; export warns about it.
        warnings.filterwarnings("ignore", message=".*_flat_weights.*")
        # Parameters that are slices of one storage (two_input_views): the storage is saved whole.
        warnings.filterwarnings("ignore", message="No complete tensor found")
        torch.export.save(torch.export.export(exported, args), path)
        loaded = torch.export.load(path)
    want, got = exported.state_dict(), loaded.state_dict
    if sorted(got) != sorted(want) or any(not torch.equal(got[k], want[k]) for k in want):
        sys.exit(f"{path}: torch.export.load gives another state_dict than the model's")
    if kind != "sequence":
        with torch.no_grad():
            if not torch.allclose(loaded.module()(*args), model(*args), rtol=0, atol=1e-6):
                sys.exit(f"{path}: the exported program's output differs from the model's")


def check_scripted(name, model, args, eager):
    scripted = torch.jit.script(model)
    got = scripted(*args)
    if not torch.allclose(got, eager, rtol=0, atol=1e-6):
        sys.exit(f"{name}: torch.jit.script output differs from eager by "
                 f"{(got - eager).abs().max().item():.3g}")


def write_case(name, kind, model, inputs, expected, config, weights_meta=None):
    case_dir = FIXTURES / name
    case_dir.mkdir(parents=True, exist_ok=True)
    m = meta(kind, case=name)
    if weights_meta:
        m.update({k: str(v) for k, v in weights_meta.items()})
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, case_dir / "weights.safetensors", m)
    save_pytorch(model, case_dir / "weights")
    export_pt2(kind, model, inputs, config, case_dir / "weights.pt2")
    save_file({k: v.contiguous() for k, v in inputs.items()}, case_dir / "input.safetensors", meta(kind, case=name))
    arrays = {k: v.numpy() for k, v in inputs.items()}
    np.savez(case_dir / "input.npz", **arrays)
    np.savez_compressed(case_dir / "input_compressed.npz", **arrays)
    save_file({k: v.detach().contiguous() for k, v in expected.items()}, case_dir / "expected.safetensors",
              meta(kind, case=name))
    return {"name": name, "model": kind, "config": config,
            "inputs": {k: list(v.shape) for k, v in inputs.items()},
            "expected": sorted(expected)}


def pad(sequences, total_length=None, garbage=False):
    """pad_sequence(batch_first=True), optionally longer, with garbage in the padding to prove
    that packing never reads it."""
    padded = rnn_utils.pad_sequence(sequences, batch_first=True)
    if total_length is not None and total_length > padded.shape[1]:
        extra = torch.zeros(padded.shape[0], total_length - padded.shape[1], padded.shape[2])
        padded = torch.cat([padded, extra], dim=1)
    if garbage:
        for b, s in enumerate(sequences):
            padded[b, s.shape[0]:] = torch.randn_like(padded[b, s.shape[0]:]) * 100
    return padded


def two_input_cases(seed_model):
    cases = []
    specs = [
        ("two_input_seed", seed_model, (1, 10), (1, 10), {"in_features": 10, "out_features": 10}),
        ("two_input_batch", seed_model, (32, 10), (32, 10), {"in_features": 10, "out_features": 10}),
        ("two_input_broadcast", seed_model, (4, 1, 10), (3, 10), {"in_features": 10, "out_features": 10}),
        ("two_input_sizes", GeneralTwoInput(6, 4), (5, 6), (6,), {"in_features": 6, "out_features": 4}),
    ]
    for name, model, s1, s2, config in specs:
        model.eval()
        t1, t2 = torch.randn(*s1), torch.randn(*s2)
        with torch.no_grad():
            out = model(t1, t2)
            check_scripted(name, model, (t1, t2), out)
        cases.append(write_case(name, "two-input", model, {"tensor1": t1, "tensor2": t2}, {"output": out}, config))
    return cases


def categorical_cases(seed_model):
    cases = []
    specs = [
        # name, model, input shape, categories, feature width, index values
        ("categorical_seed", seed_model, (1, 10), 3, 10, [2]),
        ("categorical_batch", seed_model, (6, 10), 3, 10, [0, 1, 2, 2, 1, 0]),
        ("categorical_7", GeneralCategorical(7), (9, 10), 7, 10, [0, 1, 2, 3, 4, 5, 6, 6, 3]),
        ("categorical_nd", GeneralCategorical(4, feature_width=5, out_features=3), (2, 3, 5), 4, 5,
         [[0, 3, 1], [2, 2, 0]]),
    ]
    for name, model, shape, categories, width, index in specs:
        model.eval()
        x = torch.randn(*shape)
        idx = torch.tensor(index, dtype=torch.int64)
        with torch.no_grad():
            out = model(x, idx)
            check_scripted(name, model, (x, idx), out)
        config = {"feature_width": width, "num_categories": categories,
                  "out_features": model.linear.out_features}
        cases.append(write_case(name, "categorical", model, {"tensor_input": x, "category_index": idx},
                                {"output": out}, config, weights_meta={"feature_width": width}))
    return cases


def views_case():
    """A two-input model whose parameters are views of one storage, as tied or sliced parameters
    are: the weight a transposed (strided) view at an offset, the bias a slice after it. Each
    PyTorch file keeps the shared storage once; every reader must give the views' values."""
    model = GeneralTwoInput(6, 4)
    storage = torch.randn(3 + 24 + 4)
    model.linear.weight = nn.Parameter(storage[3:27].view(6, 4).t())
    model.linear.bias = nn.Parameter(storage[27:31])
    model.eval()
    t1, t2 = torch.randn(5, 6), torch.randn(6)
    with torch.no_grad():
        out = model(t1, t2)
        check_scripted("two_input_views", model, (t1, t2), out)
    return write_case("two_input_views", "two-input", model, {"tensor1": t1, "tensor2": t2}, {"output": out},
                      {"in_features": 6, "out_features": 4})


def sequence_config(model):
    rnn = model.rnn
    return {"input_size": rnn.input_size, "hidden_size": rnn.hidden_size, "num_layers": rnn.num_layers,
            "bidirectional": rnn.bidirectional, "proj_size": rnn.proj_size, "bias": rnn.bias,
            "out_features": model.linear.out_features}


def sequence_cases(seed_model, seed_sequences):
    cases = []

    def case(name, model, padded, lengths):
        model.eval()
        lengths = torch.tensor(lengths, dtype=torch.int64)
        with torch.no_grad():
            out = model(padded, lengths)
            check_scripted(name, model, (padded, lengths), out)
            expected = {"output": out, **lstm_outputs(model, padded, lengths)}
        cases.append(write_case(name, "sequence", model, {"padded_seq": padded, "seq_lengths": lengths},
                                expected, sequence_config(model)))

    def ragged(lengths, features, scale=1.0):
        return [torch.randn(n, features) * scale for n in lengths]

    case("sequence_seed", seed_model, pad(seed_sequences), [s.shape[0] for s in seed_sequences])
    case("sequence_2layer", GeneralSequence(6, 12, num_layers=2), pad(ragged([4, 9, 1, 6], 6)), [4, 9, 1, 6])
    case("sequence_3layer_bidir", GeneralSequence(5, 8, num_layers=3, bidirectional=True),
         pad(ragged([7, 2, 5], 5)), [7, 2, 5])
    case("sequence_bidir", GeneralSequence(10, 20, bidirectional=True), pad(ragged([5, 3, 7], 10)), [5, 3, 7])
    tied = [4, 6, 4, 6, 2, 6]
    case("sequence_tied", GeneralSequence(3, 7, num_layers=2, bidirectional=True), pad(ragged(tied, 3)), tied)
    case("sequence_len1", GeneralSequence(4, 5, bidirectional=True), pad(ragged([1, 1, 3, 1], 4)), [1, 1, 3, 1])
    case("sequence_all_len1", GeneralSequence(4, 5, num_layers=2), pad(ragged([1, 1], 4)), [1, 1])
    case("sequence_equal", GeneralSequence(10, 20, num_layers=2, bidirectional=True),
         pad(ragged([5, 5, 5], 10)), [5, 5, 5])
    case("sequence_padding_beyond", GeneralSequence(10, 20, bidirectional=True),
         pad(ragged([5, 3, 7], 10), total_length=10, garbage=True), [5, 3, 7])
    case("sequence_batch1", GeneralSequence(10, 20), pad(ragged([6], 10)), [6])
    case("sequence_batch1_padded", GeneralSequence(10, 20, bidirectional=True),
         pad(ragged([4], 10), total_length=8, garbage=True), [4])
    long = [230, 201, 57, 1]
    case("sequence_long", GeneralSequence(4, 16, num_layers=2, bidirectional=True), pad(ragged(long, 4)), long)
    case("sequence_proj", GeneralSequence(6, 16, num_layers=2, bidirectional=True, proj_size=6),
         pad(ragged([5, 2, 8], 6)), [5, 2, 8])
    case("sequence_nobias", GeneralSequence(6, 9, bias=False), pad(ragged([3, 5], 6)), [3, 5])
    trained = GeneralSequence(8, 32, num_layers=2, bidirectional=True)
    with torch.no_grad():  # weights three times the default init, as in a trained network
        for p in trained.parameters():
            p.mul_(3.0)
    case("sequence_trained", trained, pad(ragged([40, 25, 33, 12], 8, scale=3.0)), [40, 25, 33, 12])
    wide = [int(n) for n in torch.randint(1, 21, (37,))]
    case("sequence_wide_batch", GeneralSequence(5, 6), pad(ragged(wide, 5), garbage=True), wide)
    return cases


FORWARD_ARGS = {"two-input": ["tensor1", "tensor2"], "categorical": ["tensor_input", "category_index"],
                "sequence": ["padded_seq", "seq_lengths"]}
STORED_PRECISION_CASES = ["two_input_sizes", "categorical_7", "sequence_seed", "sequence_proj",
                          "sequence_trained"]


def build_model(kind, config):
    """The generalised model of a manifest case, with default weights (replaced by the caller)."""
    if kind == "two-input":
        return GeneralTwoInput(config["in_features"], config["out_features"])
    if kind == "categorical":
        return GeneralCategorical(config["num_categories"], config["feature_width"], config["out_features"])
    return GeneralSequence(config["input_size"], config["hidden_size"], config["num_layers"],
                           config["bidirectional"], config["proj_size"], config["bias"],
                           config["out_features"])


def stored_precision_cases(cases):
    """Weights saved in F16, BF16 and F64, as users export them (`model.half().state_dict()`, ...),
    with PyTorch's outputs for each:
      expected_f16 / expected_bf16: the f32 model whose weights went through that dtype (what a
        model stored in half precision computes once loaded in f32);
      expected_f64: the whole model in f64 (`model.double()` on f64 inputs).
    """
    from safetensors import safe_open
    from safetensors.torch import load_file
    written = {}
    by_name = {c["name"]: c for c in cases}
    dtypes = {"f16": torch.float16, "bf16": torch.bfloat16, "f64": torch.float64}
    for name in STORED_PRECISION_CASES:
        case, case_dir = by_name[name], FIXTURES / name
        with safe_open(case_dir / "weights.safetensors", "pt") as f:
            metadata = f.metadata()
        state = load_file(case_dir / "weights.safetensors")
        loaded = load_file(case_dir / "input.safetensors")
        inputs = [loaded[k] for k in FORWARD_ARGS[case["model"]]]
        for tag, dtype in dtypes.items():
            stored = {k: v.to(dtype).contiguous() for k, v in state.items()}
            save_file(stored, case_dir / f"weights_{tag}.safetensors", {**metadata, "stored_dtype": tag})
            torch.save(stored, case_dir / f"weights_{tag}.pth")
            model = build_model(case["model"], case["config"]).eval()
            if dtype == torch.float64:
                model.load_state_dict(state)
                model = model.double()
                args = [v.double() if v.is_floating_point() else v for v in inputs]
            else:
                model.load_state_dict({k: v.to(dtype).float() for k, v in state.items()})
                args = inputs
            with torch.no_grad():
                out = model(*args)
            save_file({"output": out.contiguous()}, case_dir / f"expected_{tag}.safetensors",
                      meta(case["model"], case=name, stored_dtype=tag))
        written[name] = sorted(dtypes)
    return written


def write_json(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1) + "\n")


def main():
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    os.chdir(ROOT)

    # The seed's models with the seed's arguments.
    two = TwoInputModule().eval()
    cat = CategoricalInputModule(num_categories=3).eval()
    seq = SequenceInputModule(input_size=10, hidden_size=20).eval()
    (ROOT / "weights").mkdir(exist_ok=True)
    save_file(two.state_dict(), "weights/two_input.safetensors", meta("two-input"))
    save_file(cat.state_dict(), "weights/categorical.safetensors", meta("categorical", feature_width=10))
    save_file(seq.state_dict(), "weights/sequence.safetensors", meta("sequence"))
    for model, stem in [(two, "two_input"), (cat, "categorical"), (seq, "sequence")]:
        save_pytorch(model, f"weights/{stem}")

    # The seed's example inputs, as requests for the CLI.
    seed_sequences = [torch.randn(5, 10), torch.randn(3, 10), torch.randn(7, 10)]
    write_json(ROOT / "examples/sequence.json", {"sequences": [s.tolist() for s in seed_sequences]})

    # The views case comes last, so that the other cases' random draws stay as they were.
    cases = two_input_cases(two) + categorical_cases(cat) + sequence_cases(seq, seed_sequences) + [views_case()]

    # The other two example requests are the seed fixtures' inputs.
    write_json(ROOT / "examples/two_input.json",
               {k: v.tolist() for k, v in _load_inputs("two_input_seed").items()})
    write_json(ROOT / "examples/categorical.json",
               {k: v.tolist() for k, v in _load_inputs("categorical_seed").items()})
    # The seed's sequence request for NumPy users, compressed as np.savez_compressed writes it.
    np.savez_compressed(ROOT / "examples/sequence.npz",
                        **{k: v.numpy() for k, v in _load_inputs("sequence_seed").items()})

    # The seed's weights as torch.export archives, exported with the seed fixtures' inputs.
    export_pt2("two-input", two, _load_inputs("two_input_seed"), None, "weights/two_input.pt2")
    export_pt2("categorical", cat, _load_inputs("categorical_seed"), None, "weights/categorical.pt2")
    export_pt2("sequence", seq, _load_inputs("sequence_seed"), sequence_config(seq), "weights/sequence.pt2")

    stored = stored_precision_cases(cases)
    not_seed = not_seed_cases({"sequence": seq, "two-input": two})

    write_json(FIXTURES / "manifest.json", {
        "script": SCRIPT, "torch_version": torch.__version__, "numpy_version": np.__version__, "seed": SEED,
        "pt2_exported_from": {"two-input": "GeneralTwoInput (TwoInputModule for the seed's weights)",
                              "categorical": "GeneralCategorical (CategoricalInputModule for the seed's weights)",
                              "sequence": "ExportableSequence, the model without packing (same state_dict)"},
        "stored_precision": stored,
        "weights": {"two-input": "weights/two_input.safetensors",
                    "categorical": "weights/categorical.safetensors",
                    "sequence": "weights/sequence.safetensors"},
        "cases": cases,
        "not_seed": not_seed,
    })
    print(f"wrote {len(cases)} fixture cases with torch {torch.__version__}, seed {SEED}")


def _load_inputs(case):
    from safetensors.torch import load_file
    return load_file(FIXTURES / case / "input.safetensors")


if __name__ == "__main__":
    main()
