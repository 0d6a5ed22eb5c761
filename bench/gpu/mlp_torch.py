"""The mlp_digits training step (64-64-10 MLP, relu, softmax cross-entropy,
Adam lr=0.01) in PyTorch on the GPU, in ms a step, for comparison with
`gpu_bench mlp`. One JSON object a line, one line a batch size.

Usage: mlp_torch.py [BATCH ...]   (default 64)
"""
import json
import sys
import time

import torch


def step_ms(batch, steps=200):
    dev = torch.device("cuda")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    x = torch.rand(batch, 64, device=dev)
    labels = torch.randint(0, 10, (batch,), device=dev)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x), labels)
        loss.backward()
        opt.step()
        return loss

    for _ in range(20):
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1e3 / steps


if __name__ == "__main__":
    for b in [int(a) for a in sys.argv[1:]] or [64]:
        print(json.dumps({"bench": "mlp_step_torch", "batch": b, "step_ms": round(step_ms(b), 4), "torch": torch.__version__}))
