"""Peak memory of ``empirical_rf`` under ``max_memory``, on the model that used to exhaust the machine.

    python benchmarks/empirical_memory.py [--max-memory-gb 2]

smp's ``Unet`` (ResNet-18 encoder, no weights) at 1x3x256x256: five nearest x2 upsamplings give an output of
period 32, so the measurement compares 129 output units at 2048 x 2048. The script prints the process's peak
resident memory (``VmHWM``) before and after the call, the difference against the budget, the time, and the
measured field. One thread, as ``atrous analyze`` runs by default on this machine.
"""

from __future__ import annotations

import argparse
import time

import torch


def _kb(key: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-memory-gb", type=float, default=2.0)
    args = parser.parse_args()
    import segmentation_models_pytorch as smp

    from atrous.analysis.empirical import empirical_rf

    torch.set_num_threads(1)
    model = smp.Unet(encoder_name="resnet18", encoder_weights=None).eval()
    empirical_rf(torch.nn.Conv2d(1, 1, 3), (1, 1, 8, 8))  # first-call imports are not the measurement's
    before = _kb("VmHWM")
    budget = int(args.max_memory_gb * 1e9)
    t0 = time.perf_counter()
    r = empirical_rf(model, (1, 3, 256, 256), max_memory=budget)
    seconds = time.perf_counter() - t0
    grew = (_kb("VmHWM") - before) * 1024
    print(f"field {r.size}, phases {r.phases}, offset {r.offset}, measured at {r.input_size}; {seconds:.1f} s")
    print(f"peak resident memory: {before * 1024 / 1e9:.2f} GB before the call, +{grew / 1e9:.2f} GB during it "
          f"(max_memory {budget / 1e9:.2f} GB)")


if __name__ == "__main__":
    main()
