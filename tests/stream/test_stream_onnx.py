"""The step with explicit state, exported to ONNX and replayed in onnxruntime, equals the PyTorch stream."""

from __future__ import annotations

import io

import pytest
import torch

from atrous.models import create_model
from atrous.stream import StreamStep, init_state, step

onnx = pytest.importorskip("onnx", reason="the export test needs onnx (pip install 'atrous[export]')")
ort = pytest.importorskip("onnxruntime", reason="the export test needs onnxruntime (pip install 'atrous[export]')")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("name", ["tcn", "wavenet"])
def test_onnx_step_replays_like_torch(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name).eval()
    batch, chunk = 3, 4
    state = init_state(model, batch)
    n = len(state)
    names = [f"state_in.{i}" for i in range(n)]
    outs = [f"state_out.{i}" for i in range(n)]
    buf = io.BytesIO()
    torch.onnx.export(StreamStep(model), (torch.zeros(batch, 1, chunk), *state), buf, dynamo=False,
                      input_names=["x", *names], output_names=["y", *outs],
                      dynamic_axes={"x": {0: "batch", 2: "time"}, "y": {0: "batch", 2: "time"},
                                    **{k: {0: "batch"} for k in names + outs}})
    onnx.checker.check_model(onnx.load_from_string(buf.getvalue()))
    session = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    x = torch.randn(batch, 1, 6 * chunk + 1)
    with torch.no_grad():
        ref = model(x)
    ys, feed_state = [], [s.numpy() for s in state]
    sizes = [chunk] * 6 + [1]  # a different chunk length than at export: the time axis is dynamic
    start = 0
    for size in sizes:
        result = session.run(None, {"x": x[:, :, start:start + size].numpy(), **dict(zip(names, feed_state))})
        ys.append(torch.from_numpy(result[0]))
        feed_state = result[1:]
        start += size
    got = torch.cat(ys, 2)
    assert (got - ref).abs().max() <= 1e-5 * ref.abs().max()
    with torch.no_grad():
        _, torch_state = step(model, x, init_state(model, batch))
    assert all((torch.from_numpy(a) - b).abs().max() <= 1e-5 * max(b.abs().max(), 1e-12)
               for a, b in zip(feed_state, torch_state))
