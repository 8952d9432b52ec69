#!/usr/bin/env python3
"""Writes tests/fixtures/doors/checked.pt: a user's model that checks its inputs and raises
PyTorch exceptions of its own (`raise ValueError`, a failed `assert`), for the cross-door error
table (tests/fixtures/doors/errors.json, docs/own-models.md#the-same-mistake-through-every-door).

    /path/to/venv/bin/python python/door_fixtures.py   # torch==2.15.0

The model is seeded; `checked.json` beside it records the torch version and the seed.
"""

import json
from pathlib import Path
from typing import Dict, Optional

import torch
from torch import Tensor, nn

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "doors"
SEED = 33


class Checked(nn.Module):
    """A classifier over 4 features that refuses what it cannot take, in its own words."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 3)

    def forward(self, x: Tensor, temperature: float = 1.0,
                mask: Optional[Tensor] = None) -> Dict[str, Tensor]:
        if x.dim() != 2:
            raise ValueError("x must be (batch, 4)")
        assert temperature > 0.0, "temperature must be positive"
        logits = self.linear(x) / temperature
        if mask is not None:
            logits = logits + mask
        return {"probs": torch.softmax(logits, -1), "label": logits.argmax(-1)}


def main():
    torch.manual_seed(SEED)
    model = Checked().eval()
    OUT.mkdir(parents=True, exist_ok=True)
    torch.jit.script(model).save(str(OUT / "checked.pt"))
    x = torch.randn(2, 4)
    request = {"x": x.tolist()}
    (OUT / "checked_request.json").write_text(json.dumps(request) + "\n")
    (OUT / "checked.json").write_text(json.dumps({
        "script": "python/door_fixtures.py",
        "torch": torch.__version__,
        "seed": SEED,
    }, indent=2) + "\n")
    # What PyTorch raises for the model's own exceptions, for the table.
    scripted = torch.jit.load(str(OUT / "checked.pt"))
    for args in [(torch.randn(4),), (x, -1.0)]:
        try:
            scripted(*args)
        except Exception as e:  # noqa: BLE001 (the message is what is shown)
            print(type(e).__name__, str(e).strip().splitlines()[-1])


if __name__ == "__main__":
    main()
