"""What a fit is built from: random sources, optimiser arguments, checked callbacks.

Functions of the estimator's settings that need nothing else of it, so that
``EMDClassifier`` reads as the steps of a fit.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import numbers
import threading

import numpy as np
import scipy.sparse
import torch
from skorch.callbacks import Callback

from ._distributed import EpochAcrossRanks
from ._modules import MLP, EnsembleMLP, dense_columns, quantile_bins, set_generator
from ._training import (
    BestWeights,
    FiniteLossCheck,
    LearningRateSchedule,
    MemberValidationLoss,
    ValidationScore,
)
from .callbacks import LearnedGroundDistance

# A module of the user's may draw from torch's global random state: fits with
# one seed it under this lock, so that fits in threads stay reproducible.
_GLOBAL_RANDOM_STATE = threading.Lock()


@contextlib.contextmanager
def random_source(seed: int, device: torch.device, global_state: bool):
    """Generators seeded with ``seed``: one for the CPU, one for ``device``.

    With ``global_state`` (a module of the user's, which draws from torch's
    global random state), the global state is seeded instead, under a lock and
    restored afterwards, and no generator is given (``None, None``).
    """
    if global_state:
        devices = [device] if device.type == "cuda" else []
        with _GLOBAL_RANDOM_STATE, torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            yield None, None
        return
    cpu = torch.Generator().manual_seed(seed)
    on_device = cpu if device.type == "cpu" else torch.Generator(device)
    if on_device is not cpu:
        on_device.manual_seed(seed)
    yield cpu, on_device


def reseed(generator, seed: int) -> None:
    """Seed ``generator``, or (None) the global state forked for this fit."""
    if generator is None:
        torch.manual_seed(seed)
    else:
        generator.manual_seed(seed)


def use_generator(net, generator) -> None:
    """Draw the net's shuffling and dropout from ``generator`` (None: global)."""
    net.set_params(generator=generator)
    set_generator(net.module_, generator)


class FixedSplit:
    """skorch ``train_split`` that returns a validation set made in advance."""

    def __init__(self, valid):
        self.valid = valid

    def __call__(self, dataset, y=None, **kwargs):
        return dataset, self.valid


def column_scales(X) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each column (1 where it is constant).

    Column by column, in float64 (:func:`~skemd._modules.dense_columns`):
    sparse and dense ``X`` give the same numbers to the last bit.
    """
    n_columns = int(np.prod(X.shape[1:]))
    mean, std = np.empty(n_columns), np.empty(n_columns)
    for j, column in enumerate(dense_columns(X)):
        mean[j], std[j] = column.mean(), column.std()
    return mean, np.where(std > 1e-12 * np.maximum(1.0, np.abs(mean)), std, 1.0)


def pooled_column_scales(X, ranks) -> tuple[np.ndarray, np.ndarray]:
    """:func:`column_scales` of every rank's rows together."""
    if scipy.sparse.issparse(X):
        X = X.astype(np.float64)
        first = np.asarray(X.sum(axis=0)).ravel()
        second = np.asarray(X.multiply(X).sum(axis=0)).ravel()
    else:
        X = np.asarray(X, dtype=np.float64).reshape(X.shape[0], -1)
        first, second = X.sum(axis=0), np.square(X).sum(axis=0)
    n_samples = ranks.sum(X.shape[0])
    mean = ranks.sum(first) / n_samples
    std = np.sqrt(np.maximum(ranks.sum(second) / n_samples - mean**2, 0.0))
    return mean, np.where(std > 1e-12 * np.maximum(1.0, np.abs(mean)), std, 1.0)


def l2_penalty(alpha: float, total_weight: float) -> float:
    """The L2 penalty per unit of weight, ``alpha`` over the samples' total."""
    decay = alpha / total_weight
    if decay > float(np.finfo(np.float32).max):
        raise ValueError(
            f"sample_weight sums to {total_weight:.3g}, so that the L2 penalty "
            f"alpha / sum(sample_weight) = {decay:.3g} overflows float32. "
            "Scale the weights up: their ratios weigh the samples, their sum "
            "counts them for the penalty."
        )
    return decay


def checked_callbacks(callbacks, reserved) -> list:
    """Copies of a ``callbacks`` parameter, checked; ``reserved`` names refused."""
    if callbacks is None:
        return []
    for item in callbacks:
        if isinstance(item, tuple) and (len(item) != 2 or not isinstance(item[0], str)):
            raise TypeError(
                "callbacks takes skorch callbacks or (name, callback) pairs; "
                f"got {item!r}."
            )
        name, callback = item if isinstance(item, tuple) else (None, item)
        if not isinstance(callback, Callback):
            raise TypeError(
                "callbacks takes skorch callbacks (skorch.callbacks.Callback "
                f"instances); got {callback!r}."
            )
        if name in reserved:
            raise ValueError(
                f"The callback name {name!r} is the estimator's own; choose another."
            )
    return copy.deepcopy(list(callbacks))


def optimizer_params(estimator, decay: float, device: torch.device) -> dict:
    """The skorch net's optimiser arguments for the estimator's ``solver``."""
    if isinstance(estimator.solver, type):
        return _class_optimizer(estimator, decay)
    if estimator.solver_params is not None:
        raise ValueError(
            f"solver_params goes with an optimiser class as solver; "
            f"solver={estimator.solver!r} takes its settings from "
            + (
                "beta_1, beta_2 and epsilon."
                if estimator.solver == "adam"
                else "momentum and nesterovs_momentum."
            )
        )
    # The fused update is one kernel per parameter group instead of several
    # per tensor: the optimiser step dominates small networks.
    fused = device.type in ("cpu", "cuda") or None
    if estimator.solver == "adam":
        if np.float32(estimator.epsilon) == 0:
            raise ValueError(
                f"epsilon={estimator.epsilon!r} is zero in float32, the precision "
                "the optimiser runs in, and Adam would divide by zero; give "
                "1e-38 or more (the default is 1e-8)."
            )
        return {
            "optimizer": torch.optim.Adam,
            "lr": estimator.learning_rate_init,
            "optimizer__betas": (estimator.beta_1, estimator.beta_2),
            "optimizer__eps": estimator.epsilon,
            "optimizer__weight_decay": decay,
            "optimizer__fused": fused,
        }
    return {
        "optimizer": torch.optim.SGD,
        "lr": estimator.learning_rate_init,
        "optimizer__momentum": estimator.momentum,
        "optimizer__nesterov": estimator.nesterovs_momentum and estimator.momentum > 0,
        "optimizer__weight_decay": decay,
        "optimizer__fused": fused,
    }


def _class_optimizer(estimator, decay: float) -> dict:
    """The arguments of a torch optimiser class given as ``solver``."""
    solver, settings = estimator.solver, estimator.solver_params or {}
    if not issubclass(solver, torch.optim.Optimizer):
        raise TypeError(
            "solver must be 'adam', 'sgd' or a torch.optim.Optimizer subclass; "
            f"got {solver!r}."
        )
    if "lr" in settings:
        raise ValueError(
            "solver_params sets no 'lr': the learning rate is learning_rate_init."
        )
    # A trial optimiser of one parameter: its own error on a bad argument
    # would otherwise come from deep inside the net.
    try:
        solver(
            [torch.nn.Parameter(torch.zeros(1))],
            lr=estimator.learning_rate_init,
            **settings,
        )
    except (TypeError, ValueError) as exc:
        error = TypeError if isinstance(exc, TypeError) else ValueError
        raise error(
            f"solver={solver.__name__} with solver_params="
            f"{estimator.solver_params!r} cannot be built: {exc}"
        ) from exc
    return {
        "optimizer": solver,
        "lr": estimator.learning_rate_init,
        "l2_weights": decay,
        **{f"optimizer__{key}": value for key, value in settings.items()},
    }


def training_callbacks(estimator, validating: bool, distributed: bool) -> list:
    """The estimator's own training callbacks, by name.

    Data-parallel, the first pools each epoch's losses over the ranks, so
    that all the others read those of every rank's data.
    """
    monitor = "valid_loss" if validating else "train_loss"
    members = validating and estimator._ensemble()
    callbacks = [("ranks", EpochAcrossRanks())] if distributed else []
    callbacks += [
        (
            "learning_rate",
            LearningRateSchedule(
                estimator.learning_rate if estimator.solver == "sgd" else "constant",
                estimator.learning_rate_init,
                estimator.power_t,
            ),
        ),
        ("finite_loss", FiniteLossCheck()),
    ]
    if validating:
        distance, _ = estimator._ground_distance(len(estimator.classes_))
        callbacks.append(
            ("validation_score", ValidationScore(estimator.decision, distance))
        )
    if members:
        monitor = "valid_member_loss"
        callbacks.append(("member_loss", MemberValidationLoss()))
    callbacks += [
        ("best", BestWeights(monitor, restore=validating, members=members)),
        # Before the distance learner: when it ends training, no distance
        # is learned that no epoch would use.
        ("plateau", estimator._plateau(monitor)),
    ]
    if estimator._learned():
        learner = LearnedGroundDistance(
            warmup_epochs=estimator.warmup_epochs,
            distance_power=estimator.distance_power,
            distance_offset=estimator.distance_offset,
            feature_layer=(
                "features"
                if estimator.feature_layer is None and estimator._ensemble()
                else estimator.feature_layer
            ),
        )
        callbacks.append(("ground_distance", learner))
    return callbacks


def build_module(estimator, X, n_classes, generator, ranks):
    """The network to train: the ensemble, the single MLP or the user's module."""
    if estimator._ensemble():
        if ranks.distributed:
            mean, scale = pooled_column_scales(X, ranks)
        else:
            mean, scale = column_scales(X)
        bins = None
        if estimator.numeric_embedding is not None:
            bins = quantile_bins(X, estimator.n_bins)
            # Data-parallel, every rank embeds its inputs in rank 0's bins.
            bins = ranks.gather(bins)[0]
        return EnsembleMLP(
            X.shape[1],
            n_classes,
            hidden_layer_sizes=estimator._layer_sizes(),
            n_members=estimator.n_estimators,
            activation=estimator.activation,
            dropout=estimator.dropout,
            mean=mean,
            scale=scale,
            bins=bins,
            embedding_dim=estimator.embedding_dim,
            generator=generator,
        )
    if estimator.module is None:
        return MLP(
            X.shape[1],
            n_classes,
            hidden_layer_sizes=estimator._layer_sizes(),
            activation=estimator.activation,
            dropout=estimator.dropout,
            generator=generator,
        )
    if isinstance(estimator.module, torch.nn.Module):
        return copy.deepcopy(estimator.module)
    module = estimator.module
    if inspect.isclass(module) and issubclass(module, torch.nn.Module):
        try:
            return estimator.module(**(estimator.module_params or {}))
        except TypeError as exc:
            # The class's own message names its arguments, not ours.
            raise TypeError(
                f"module={estimator.module.__name__} cannot be built with "
                f"module_params={estimator.module_params!r}: {exc}"
            ) from exc
    raise TypeError(
        "module must be a torch.nn.Module instance or subclass; got "
        f"{estimator.module!r}."
    )


def layer_sizes(hidden_layer_sizes) -> tuple[int, ...]:
    """``hidden_layer_sizes`` as a tuple, each size checked."""
    sizes = hidden_layer_sizes
    if np.ndim(sizes) == 0:
        sizes = [sizes.item() if isinstance(sizes, np.ndarray) else sizes]
    else:
        sizes = list(sizes)
    if not all(
        isinstance(size, numbers.Integral) and not isinstance(size, bool) and size > 0
        for size in sizes
    ):
        raise ValueError(
            "hidden_layer_sizes must hold positive integers, the width of each "
            f"hidden layer; got {hidden_layer_sizes!r}."
        )
    return tuple(int(size) for size in sizes)
