"""Train a tiny MLP whose parameters are a pytree, with gradients from each engine in turn.

The parameters are ``{"layers": [{"W": ..., "b": ...}, ...]}`` of NumPy arrays, the loss is
written once against the Array API, and ``ad.value_and_gradient(loss, params, X, y, backend=...)``
returns the gradient in the same structure. Every engine starts from the same initial parameters
and takes the same steps, so their loss curves must agree (to rounding; finite differences to
their truncation error). Then the same network as a ``torch.nn.Module`` is trained through
``torch.func.functional_call`` with ``dict(model.named_parameters())`` as the pytree, and its
losses are compared too. Exits with 1 on a disagreement.

    python examples/train_mlp.py --steps 60
"""

from __future__ import annotations

import argparse
import itertools
import sys

import numpy as np

import abstractad as ad


def init(sizes: list[int], seed: int = 0) -> dict:
    """Parameters as a pytree: a list of layers, each a dict of weights and biases."""
    rng = np.random.default_rng(seed)
    return {
        "layers": [
            {"W": rng.standard_normal((m, n)) / np.sqrt(m), "b": np.zeros(n)} for m, n in itertools.pairwise(sizes)
        ]
    }


def predict(params: dict, X):
    xp = ad.array_namespace(X, params["layers"][0]["W"])
    h = X
    for i, layer in enumerate(params["layers"]):
        h = xp.matmul(h, layer["W"]) + layer["b"]
        if i < len(params["layers"]) - 1:
            h = xp.tanh(h)
    return h[:, 0]


def loss(params: dict, X, y):
    """Mean squared error of the MLP on (X, y)."""
    xp = ad.array_namespace(params["layers"][0]["W"])
    return xp.mean((predict(params, X) - y) ** 2)


def data(n: int = 64, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2.0, 2.0, size=(n, 2))
    y = np.sin(X[:, 0]) * np.cos(X[:, 1]) + 0.05 * rng.standard_normal(n)
    return X, y


def train(backend: str, params: dict, X: np.ndarray, y: np.ndarray, steps: int, lr: float) -> list[float]:
    """Plain gradient descent; the gradient has the structure of `params`."""
    losses = []
    for _ in range(steps):
        value, grad = ad.value_and_gradient(loss, params, X, y, backend=backend)
        params = {"layers": [{k: p[k] - lr * g[k] for k in p} for p, g in zip(params["layers"], grad["layers"])]}
        losses.append(float(value))
    return losses


def train_torch_module(params: dict, X: np.ndarray, y: np.ndarray, steps: int, lr: float) -> list[float]:
    """The same network as a torch.nn.Module: its named parameters are the pytree."""
    import torch
    from torch.func import functional_call

    sizes = [params["layers"][0]["W"].shape[0]] + [layer["W"].shape[1] for layer in params["layers"]]
    modules: list[torch.nn.Module] = []
    for m, n in itertools.pairwise(sizes):
        modules += [torch.nn.Linear(m, n, dtype=torch.float64), torch.nn.Tanh()]
    model = torch.nn.Sequential(*modules[:-1])
    with torch.no_grad():  # the same initial values (nn.Linear stores W transposed)
        for linear, layer in zip(model[::2], params["layers"]):
            linear.weight.copy_(torch.from_numpy(layer["W"].T))
            linear.bias.copy_(torch.from_numpy(layer["b"]))
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def module_loss(p: dict, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.mean((functional_call(model, p, (X,))[:, 0] - y) ** 2)

    p = {name: t.detach() for name, t in model.named_parameters()}
    losses = []
    for _ in range(steps):
        value, grad = ad.value_and_gradient(module_loss, p, Xt, yt, backend="torch")
        p = {name: p[name] - lr * grad[name] for name in p}
        losses.append(float(value))
    return losses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--lr", type=float, default=0.2)
    parser.add_argument("--hidden", type=int, default=16)
    args = parser.parse_args()

    X, y = data()
    params = init([2, args.hidden, args.hidden, 1])
    names = [n for n in ad.installed_backends()]
    curves = {name: train(name, params, X, y, args.steps, args.lr) for name in names}
    if "torch" in names:
        curves["torch nn.Module"] = train_torch_module(params, X, y, args.steps, args.lr)

    reference = curves.get("jax", curves.get("torch", curves.get("autograd", next(iter(curves.values())))))
    show = sorted({0, args.steps // 2, args.steps - 1})
    print(f"{'engine':<16}" + "".join(f"{'step ' + str(s):>14}" for s in show) + f"{'max rel diff':>15}")
    ok = True
    for name, curve in curves.items():
        diff = max(abs(a - b) / abs(b) for a, b in zip(curve, reference))
        agree = diff <= (1e-4 if name == "finitediff" else 1e-9)
        ok &= agree and curve[-1] < 0.5 * curve[0]
        row = "".join(f"{curve[s]:>14.8f}" for s in show)
        print(f"{name:<16}{row}{diff:>15.2e}" + ("" if agree else "  WRONG"))
    print("the losses agree on every engine" if ok else "the engines DISAGREE")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
