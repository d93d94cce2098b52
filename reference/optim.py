"""First-order optimizers, matching ``torch.optim`` (2.13, single-tensor path) in float64.

Papers:

* SGD with momentum: B. T. Polyak, 1964, USSR Comput. Math. Math. Phys. (heavy ball); Nesterov
  momentum in the form of I. Sutskever, J. Martens, G. Dahl, G. Hinton, 2013, ICML (PMLR 28).
* Adagrad: J. Duchi, E. Hazan, Y. Singer, 2011, JMLR 12 (no arXiv version).
* RMSprop: G. Hinton, N. Srivastava, K. Swersky, 2012, Coursera lecture 6e (unpublished); the
  centered variant follows A. Graves, 2013, arXiv:1308.0850.
* Adam: D. P. Kingma, J. Ba, 2015, ICLR, arXiv:1412.6980.
* AMSGrad: S. J. Reddi, S. Kale, S. Kumar, 2018, ICLR, arXiv:1904.09237.
* AdamW: I. Loshchilov, F. Hutter, 2019, ICLR, arXiv:1711.05101.

Every optimizer first forms the gradient it uses, g_t <- -g_t if ``maximize``, then (coupled
weight decay) g_t <- g_t + lambda * theta_{t-1}.  With learning rate eta:

* SGD: b_1 = g_1, b_t = mu * b_{t-1} + (1 - tau) * g_t; the step direction is b_t, or
  g_t + mu * b_t with Nesterov; theta_t = theta_{t-1} - eta * direction.
* Adagrad: G_t = G_{t-1} + g_t^2 (G_0 = initial_accumulator_value),
  eta_t = eta / (1 + (t - 1) * lr_decay), theta_t = theta_{t-1} - eta_t * g_t / (sqrt(G_t) + eps).
* RMSprop: v_t = alpha * v_{t-1} + (1 - alpha) * g_t^2; centered: bar g_t = lerp(bar g_{t-1}, g_t,
  1 - alpha) and the denominator uses v_t - bar g_t^2; d_t = sqrt(...) + eps; with momentum
  b_t = mu * b_{t-1} + g_t / d_t and theta_t = theta_{t-1} - eta * b_t, else
  theta_t = theta_{t-1} - eta * g_t / d_t.
* Adam: m_t = beta1 * m_{t-1} + (1 - beta1) * g_t, v_t = beta2 * v_{t-1} + (1 - beta2) * g_t^2,
  hat m_t = m_t / (1 - beta1^t), hat v_t = v_t / (1 - beta2^t),
  theta_t = theta_{t-1} - eta * hat m_t / (sqrt(hat v_t) + eps).  AMSGrad keeps the running
  maximum hat v_t^max = max(hat v_{t-1}^max, v_t) of the raw second moment and uses it in place of
  v_t in hat v_t.  AdamW decouples the decay: it first sets
  theta_{t-1} <- (1 - eta * lambda) * theta_{t-1} and adds nothing to g_t.

The floating-point operations mostly follow torch's order.  Torch's Adam computes
denom = sqrt(v_t) / sqrt(1 - beta2^t) + eps and step_size = eta / (1 - beta1^t), then
theta_t = theta_{t-1} + (-step_size * m_t) / denom; here the bias correction moves onto scalars,
theta_t = theta_{t-1} - (step_size sqrt(1 - beta2^t)) m_t / (sqrt(v_t) + eps sqrt(1 - beta2^t)),
the same quantity with one pass fewer over the data.  Torch also fuses some multiply-adds (FMA),
which NumPy cannot, so float64 results agree to a few ulps rather than bit for bit.

Parameters are NumPy arrays updated in place.  The arithmetic runs over cache-sized blocks of
each parameter with in-place ufuncs and two preallocated scratch buffers, so a step makes a single
trip through main memory per array.  NumPy has no fused multiply-add ufunc, so an update takes a
few more passes over each (cache-resident) block than torch's kernels do over the whole array:
4 for SGD with momentum (torch: 3), 9 for RMSprop (5), 12 for Adam (7, or 1 for the fused path).
"""

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop"]

FloatArray = NDArray[np.floating[Any]]

# Bytes per array handled in one block: the handful of arrays touched by an update then stay in
# the L2 cache between the successive ufunc passes.
_BLOCK_BYTES = 1 << 18


def _check_non_negative(value: float, message: str) -> None:
    if not value >= 0.0:  # also rejects NaN
        raise ValueError(f"{message}: {value}")


class Optimizer(ABC):
    """Shared machinery: argument checks, per-parameter state, blocked in-place updates."""

    hyperparameter_names: ClassVar[tuple[str, ...]]
    maximize: bool

    def __init__(self, params: Sequence[FloatArray]) -> None:
        self.params: list[FloatArray] = list(params)
        if not self.params:
            raise ValueError("params: optimizer got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, np.ndarray) or not np.issubdtype(p.dtype, np.floating):
                raise ValueError(f"params[{i}] must be a floating-point NumPy array")
            if not p.flags.writeable:
                raise ValueError(f"params[{i}] is read-only; it must be updated in place")
        self._validate()
        # Per parameter: the step count t and the named state buffers.
        self.steps: list[int] = [0] * len(self.params)
        self.buffers: list[dict[str, FloatArray]] = [
            {name: self._initial_buffer(name, p) for name in self._buffer_names()}
            for p in self.params
        ]
        self._scratch: dict[np.dtype[Any], tuple[FloatArray, FloatArray]] = {}

    # -- hooks for subclasses ------------------------------------------------------------------

    @abstractmethod
    def _validate(self) -> None:
        """Raise ValueError naming the argument if a hyperparameter is out of range."""

    @abstractmethod
    def _buffer_names(self) -> tuple[str, ...]:
        """Names of the state buffers the current hyperparameters need."""

    def _initial_buffer(self, name: str, p: FloatArray) -> FloatArray:
        return np.zeros(p.shape, dtype=p.dtype)

    @abstractmethod
    def _update(
        self,
        p: FloatArray,
        g: FloatArray,
        buffers: dict[str, FloatArray],
        scratch: tuple[FloatArray, FloatArray],
        step: int,
    ) -> None:
        """Update one block in place; all arrays are 1-D views of the same length."""

    # -- public API ----------------------------------------------------------------------------

    def step(self, grads: Sequence[ArrayLike]) -> None:
        """Apply one update to every parameter, given one gradient per parameter."""
        checked = self._check_grads(grads)
        block_bytes = _BLOCK_BYTES  # read once: a step uses one block size throughout
        for i, (p, g) in enumerate(zip(self.params, checked, strict=True)):
            self.steps[i] += 1
            work = p if p.flags.c_contiguous else np.asarray(p, order="C")
            flat_p, flat_g = work.reshape(-1), g.reshape(-1)
            flat_buffers = {name: b.reshape(-1) for name, b in self.buffers[i].items()}
            block = max(1, block_bytes // p.itemsize)
            s0, s1 = self._scratch_for(p.dtype, min(block, p.size))
            if p.size <= block:  # one block: no slicing
                n = p.size
                self._update(flat_p, flat_g, flat_buffers, (s0[:n], s1[:n]), self.steps[i])
            else:
                for start in range(0, p.size, block):
                    part = slice(start, start + block)
                    n = min(block, p.size - start)
                    self._update(
                        flat_p[part],
                        flat_g[part],
                        {name: b[part] for name, b in flat_buffers.items()},
                        (s0[:n], s1[:n]),
                        self.steps[i],
                    )
            if work is not p:
                p[...] = work

    def state_dict(self) -> dict[str, Any]:
        """Hyperparameters, step counts and copies of the state buffers."""
        return {
            "hyperparameters": {name: getattr(self, name) for name in self.hyperparameter_names},
            "state": [
                {"step": t, **{name: b.copy() for name, b in buffers.items()}}
                for t, buffers in zip(self.steps, self.buffers, strict=True)
            ],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (arrays are copied, not aliased)."""
        hyper = dict(state_dict["hyperparameters"])
        if set(hyper) != set(self.hyperparameter_names):
            raise ValueError(
                f"state_dict: hyperparameters {sorted(hyper)}, "
                f"expected {sorted(self.hyperparameter_names)}"
            )
        old = {name: getattr(self, name) for name in self.hyperparameter_names}
        for name, value in hyper.items():
            setattr(self, name, tuple(value) if name == "betas" else value)
        try:
            self._validate()
            steps, buffers = self._load_state(list(state_dict["state"]))
        except ValueError:
            for name, value in old.items():
                setattr(self, name, value)
            raise
        self.steps, self.buffers = steps, buffers

    # -- helpers -------------------------------------------------------------------------------

    def _load_state(
        self, states: list[dict[str, Any]]
    ) -> tuple[list[int], list[dict[str, FloatArray]]]:
        if len(states) != len(self.params):
            raise ValueError(
                f"state_dict: state for {len(states)} parameters, expected {len(self.params)}"
            )
        names = set(self._buffer_names())
        steps: list[int] = []
        buffers: list[dict[str, FloatArray]] = []
        for i, (p, state) in enumerate(zip(self.params, states, strict=True)):
            if set(state) != names | {"step"}:
                raise ValueError(
                    f"state_dict: state[{i}] has {sorted(state)}, expected {sorted(names)}"
                )
            loaded = {name: np.array(state[name], dtype=p.dtype, copy=True) for name in names}
            for name, b in loaded.items():
                if b.shape != p.shape:
                    raise ValueError(
                        f"state_dict: state[{i}][{name!r}] has shape {b.shape}, expected {p.shape}"
                    )
            steps.append(int(state["step"]))
            buffers.append(loaded)
        return steps, buffers

    def _check_grads(self, grads: Sequence[ArrayLike]) -> list[FloatArray]:
        if len(grads) != len(self.params):
            raise ValueError(
                f"grads: expected {len(self.params)} gradient arrays, got {len(grads)}"
            )
        checked: list[FloatArray] = []
        for i, (p, g) in enumerate(zip(self.params, grads, strict=True)):
            arr = np.asarray(g, dtype=p.dtype, order="C")
            if arr.shape != p.shape:
                raise ValueError(f"grads[{i}] has shape {arr.shape}, expected {p.shape}")
            checked.append(arr)
        return checked

    def _scratch_for(self, dtype: np.dtype[Any], size: int) -> tuple[FloatArray, FloatArray]:
        scratch = self._scratch.get(dtype)
        if scratch is None or scratch[0].size < size:
            scratch = (np.empty(size, dtype=dtype), np.empty(size, dtype=dtype))
            self._scratch[dtype] = scratch
        return scratch

    def _gradient(
        self, p: FloatArray, g: FloatArray, out: FloatArray, weight_decay: float
    ) -> FloatArray:
        """g_t <- -g_t if maximize, then g_t <- g_t + lambda * theta_{t-1}; leaves ``g`` alone."""
        if weight_decay != 0:
            np.multiply(p, weight_decay, out=out)
            if self.maximize:
                return np.subtract(out, g, out=out)
            return np.add(out, g, out=out)
        if self.maximize:
            return np.negative(g, out=out)
        return g


def _lerp(start: FloatArray, end: FloatArray, weight: float, tmp: FloatArray) -> None:
    """start <- start + weight * (end - start), in the two-sided form torch.lerp uses."""
    np.subtract(end, start, out=tmp)
    if abs(weight) < 0.5:
        tmp *= weight
        start += tmp
    else:
        tmp *= weight - 1.0
        np.add(end, tmp, out=start)


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum and weight decay."""

    hyperparameter_names: ClassVar[tuple[str, ...]] = (
        "lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize"
    )  # fmt: skip

    def __init__(
        self,
        params: Sequence[FloatArray],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        self.lr = lr
        self.momentum = momentum
        self.dampening = dampening
        self.weight_decay = weight_decay
        self.nesterov = nesterov
        self.maximize = maximize
        super().__init__(params)

    def _validate(self) -> None:
        _check_non_negative(self.lr, "Invalid learning rate (lr)")
        _check_non_negative(self.momentum, "Invalid momentum value")
        _check_non_negative(self.weight_decay, "Invalid weight_decay value")
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("nesterov momentum requires a momentum > 0 and zero dampening")

    def _buffer_names(self) -> tuple[str, ...]:
        return ("momentum_buffer",) if self.momentum != 0 else ()

    def _update(
        self,
        p: FloatArray,
        g: FloatArray,
        buffers: dict[str, FloatArray],
        scratch: tuple[FloatArray, FloatArray],
        step: int,
    ) -> None:
        s0, s1 = scratch
        g = self._gradient(p, g, s0, self.weight_decay)
        if self.momentum != 0:
            b = buffers["momentum_buffer"]
            if step == 1:
                np.copyto(b, g)  # b_1 = g_1
            else:
                b *= self.momentum
                if self.dampening == 0:
                    b += g
                else:
                    b += np.multiply(g, 1 - self.dampening, out=s1)
            if self.nesterov:
                np.multiply(b, self.momentum, out=s1)
                g = np.add(g, s1, out=s1)
            else:
                g = b
        p -= np.multiply(g, self.lr, out=s1)


class Adagrad(Optimizer):
    """Adagrad: per-coordinate step sizes from the accumulated squared gradients G_t."""

    hyperparameter_names: ClassVar[tuple[str, ...]] = (
        "lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps", "maximize"
    )  # fmt: skip

    def __init__(
        self,
        params: Sequence[FloatArray],
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
    ) -> None:
        self.lr = lr
        self.lr_decay = lr_decay
        self.weight_decay = weight_decay
        self.initial_accumulator_value = initial_accumulator_value
        self.eps = eps
        self.maximize = maximize
        super().__init__(params)

    def _validate(self) -> None:
        _check_non_negative(self.lr, "Invalid learning rate (lr)")
        _check_non_negative(self.lr_decay, "Invalid lr_decay value")
        _check_non_negative(self.weight_decay, "Invalid weight_decay value")
        _check_non_negative(
            self.initial_accumulator_value, "Invalid initial_accumulator_value value"
        )
        _check_non_negative(self.eps, "Invalid epsilon value (eps)")

    def _buffer_names(self) -> tuple[str, ...]:
        return ("sum",)

    def _initial_buffer(self, name: str, p: FloatArray) -> FloatArray:
        return np.full(p.shape, self.initial_accumulator_value, dtype=p.dtype)

    def _update(
        self,
        p: FloatArray,
        g: FloatArray,
        buffers: dict[str, FloatArray],
        scratch: tuple[FloatArray, FloatArray],
        step: int,
    ) -> None:
        s0, s1 = scratch
        g = self._gradient(p, g, s0, self.weight_decay)
        clr = self.lr / (1 + (step - 1) * self.lr_decay)
        accumulator = buffers["sum"]
        accumulator += np.multiply(g, g, out=s1)  # G_t
        std = np.sqrt(accumulator, out=s1)
        std += self.eps
        step_ = np.multiply(g, -clr, out=s0)  # s0 is free once g has been read
        step_ /= std
        p += step_


class RMSprop(Optimizer):
    """RMSprop, optionally centered and with momentum."""

    hyperparameter_names: ClassVar[tuple[str, ...]] = (
        "lr", "alpha", "eps", "weight_decay", "momentum", "centered", "maximize"
    )  # fmt: skip

    def __init__(
        self,
        params: Sequence[FloatArray],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        self.lr = lr
        self.alpha = alpha
        self.eps = eps
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.centered = centered
        self.maximize = maximize
        super().__init__(params)

    def _validate(self) -> None:
        _check_non_negative(self.lr, "Invalid learning rate (lr)")
        _check_non_negative(self.eps, "Invalid epsilon value (eps)")
        _check_non_negative(self.momentum, "Invalid momentum value")
        _check_non_negative(self.weight_decay, "Invalid weight_decay value")
        _check_non_negative(self.alpha, "Invalid alpha value")

    def _buffer_names(self) -> tuple[str, ...]:
        names = ["square_avg"]
        if self.momentum > 0:
            names.append("momentum_buffer")
        if self.centered:
            names.append("grad_avg")
        return tuple(names)

    def _update(
        self,
        p: FloatArray,
        g: FloatArray,
        buffers: dict[str, FloatArray],
        scratch: tuple[FloatArray, FloatArray],
        step: int,
    ) -> None:
        s0, s1 = scratch
        g = self._gradient(p, g, s0, self.weight_decay)
        v = buffers["square_avg"]
        v *= self.alpha
        sq = np.square(g, out=s1)
        sq *= 1 - self.alpha
        v += sq
        if self.centered:
            g_avg = buffers["grad_avg"]
            _lerp(g_avg, g, 1 - self.alpha, s1)
            np.multiply(g_avg, g_avg, out=s1)
            denom = np.sqrt(np.subtract(v, s1, out=s1), out=s1)
        else:
            denom = np.sqrt(v, out=s1)
        denom += self.eps
        if self.momentum > 0:
            b = buffers["momentum_buffer"]
            b *= self.momentum
            b += np.divide(g, denom, out=s1)
            p -= np.multiply(b, self.lr, out=s1)
        else:
            update = np.divide(g, denom, out=s1)
            update *= self.lr
            p -= update


class Adam(Optimizer):
    """Adam (optionally AMSGrad); weight decay is coupled unless ``decoupled_weight_decay``."""

    hyperparameter_names: ClassVar[tuple[str, ...]] = (
        "lr", "betas", "eps", "weight_decay", "amsgrad", "maximize", "decoupled_weight_decay"
    )  # fmt: skip

    def __init__(
        self,
        params: Sequence[FloatArray],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        self.lr = lr
        self.betas = tuple(betas)
        self.eps = eps
        self.weight_decay = weight_decay
        self.amsgrad = amsgrad
        self.maximize = maximize
        self.decoupled_weight_decay = decoupled_weight_decay
        super().__init__(params)

    def _validate(self) -> None:
        _check_non_negative(self.lr, "Invalid learning rate (lr)")
        _check_non_negative(self.eps, "Invalid epsilon value (eps)")
        if len(self.betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {self.betas}")
        for i, beta in enumerate(self.betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i} (betas): {beta}")
        _check_non_negative(self.weight_decay, "Invalid weight_decay value")

    def _buffer_names(self) -> tuple[str, ...]:
        if self.amsgrad:
            return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
        return ("exp_avg", "exp_avg_sq")

    def _update(
        self,
        p: FloatArray,
        g: FloatArray,
        buffers: dict[str, FloatArray],
        scratch: tuple[FloatArray, FloatArray],
        step: int,
    ) -> None:
        s0, s1 = scratch
        beta1, beta2 = self.betas
        if self.decoupled_weight_decay:
            if self.weight_decay != 0:
                p *= 1 - self.lr * self.weight_decay
            g = self._gradient(p, g, s0, 0.0)
        else:
            g = self._gradient(p, g, s0, self.weight_decay)
        m, v = buffers["exp_avg"], buffers["exp_avg_sq"]
        _lerp(m, g, 1 - beta1, s1)  # m_t
        v *= beta2
        sq = np.square(g, out=s1)
        sq *= 1 - beta2
        v += sq  # v_t
        if self.amsgrad:
            v = np.maximum(buffers["max_exp_avg_sq"], v, out=buffers["max_exp_avg_sq"])
        # step_size * m / (sqrt(v) / bc2 + eps) = (step_size * bc2) * m / (sqrt(v) + eps * bc2):
        # the bias correction moves onto two scalars, which saves a pass over the block.
        step_size = self.lr / (1 - beta1**step)
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
        denom = np.sqrt(v, out=s1)
        denom += self.eps * bias_correction2_sqrt
        update = np.divide(m, denom, out=s1)
        update *= step_size * bias_correction2_sqrt
        p -= update


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter)."""

    hyperparameter_names: ClassVar[tuple[str, ...]] = (
        "lr",
        "betas",
        "eps",
        "weight_decay",
        "amsgrad",
        "maximize",
    )

    def __init__(
        self,
        params: Sequence[FloatArray],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            decoupled_weight_decay=True,
        )
