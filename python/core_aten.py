#!/usr/bin/env python3
"""Writes the Core ATen operator set of the installed torch: every ATen overload tagged
`torch.Tag.core` (what `ep.run_decompositions()` leaves in a torch.export graph), one schema name
per line, for the operator page's Core ATen table (tests/operators_doc.rs renders it, marking
which ones the registry supports).

    /work/venv/bin/python python/core_aten.py      # writes tests/fixtures/core_aten.txt
"""

from pathlib import Path

import torch

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "core_aten.txt"


def core_overloads():
    names = set()
    for name in dir(torch.ops.aten):
        try:
            packet = getattr(torch.ops.aten, name)
        except (AttributeError, RuntimeError):
            continue
        if not hasattr(packet, "overloads"):
            continue
        for overload in packet.overloads():
            op = getattr(packet, overload)
            if torch.Tag.core in op.tags and not op.name().endswith("_backward") \
                    and "_backward." not in op.name():
                names.add(op.name())
    return sorted(names)


def main():
    names = core_overloads()
    header = f"# Core ATen (torch.Tag.core) of torch {torch.__version__}, by python/core_aten.py; backward operators left out\n"
    OUT.write_text(header + "".join(f"{n}\n" for n in names))
    print(f"{len(names)} overloads -> {OUT}")


if __name__ == "__main__":
    main()
