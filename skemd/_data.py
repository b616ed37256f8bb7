"""Training data held in memory, and batches served from it.

Data that fit in memory are held as tensors and served as slices: a batch is an
index into tensors that already sit on the training device, so training never
collates samples one by one. Sparse ``X`` stays compressed and is made dense a
batch at a time.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse
import torch


class WeightedTarget(NamedTuple):
    """The targets of a batch with a weight per sample.

    :class:`EMDNet` passes ``weight`` to its criterion as ``sample_weight``, and
    :class:`~skemd.callbacks.LearnedGroundDistance` weights each sample's
    features by it.
    """

    target: torch.Tensor
    weight: torch.Tensor


class SparseRows:
    """The rows of a sparse matrix, kept compressed, handed out dense.

    Stands in for the feature tensor of an :class:`InMemoryDataset` when ``X`` is
    a SciPy sparse matrix: the data stays in compressed sparse row form on its
    device, and rows become a dense tensor only when they are taken, a batch (or
    a block of shuffled batches) at a time. Taking rows gives exactly the values
    of the dense matrix, so training on sparse ``X`` equals training on
    ``X.toarray()``.

    Parameters
    ----------
    crow_indices, col_indices, values : torch.Tensor
        The compressed sparse row arrays (SciPy's ``indptr``, ``indices`` and
        ``data``); duplicate entries of a row are summed when it is taken.
    n_features : int
        Number of columns.
    """

    def __init__(
        self,
        crow_indices: torch.Tensor,
        col_indices: torch.Tensor,
        values: torch.Tensor,
        n_features: int,
    ) -> None:
        self.crow_indices = crow_indices
        self.col_indices = col_indices
        self.values = values
        self.n_features = n_features

    @classmethod
    def from_scipy(cls, matrix) -> SparseRows:
        """Rows of a SciPy sparse matrix or array (any format)."""
        matrix = matrix.tocsr()
        return cls(
            torch.from_numpy(matrix.indptr.astype(np.int64)),
            torch.from_numpy(matrix.indices.astype(np.int64)),
            torch.from_numpy(np.ascontiguousarray(matrix.data)),
            matrix.shape[1],
        )

    @property
    def device(self) -> torch.device:
        return self.values.device

    @property
    def dtype(self) -> torch.dtype:
        return self.values.dtype

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self), self.n_features)

    def __len__(self) -> int:
        return len(self.crow_indices) - 1

    def to(self, device) -> SparseRows:
        return SparseRows(
            self.crow_indices.to(device),
            self.col_indices.to(device),
            self.values.to(device),
            self.n_features,
        )

    def __getitem__(self, key) -> torch.Tensor:
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            key = torch.arange(start, stop, step, device=self.device)
        elif isinstance(key, torch.Tensor):
            pass
        else:
            row = int(key)
            if not -len(self) <= row < len(self):
                raise IndexError(f"row {row} is out of range for {len(self)} rows")
            row %= len(self)
            return self.index_select(0, torch.tensor([row], device=self.device))[0]
        return self.index_select(0, key)

    def index_select(self, dim: int, index: torch.Tensor) -> torch.Tensor:
        """The rows ``index``, as a dense ``(len(index), n_features)`` tensor."""
        if dim != 0:
            raise ValueError("SparseRows selects rows only (dim=0).")
        device = self.device
        index = index.to(device=device, dtype=torch.int64)
        starts = self.crow_indices.index_select(0, index)
        counts = self.crow_indices.index_select(0, index + 1) - starts
        total = int(counts.sum())
        dense = torch.zeros(
            (len(index), self.n_features), dtype=self.values.dtype, device=device
        )
        if total == 0:
            return dense
        rows = torch.repeat_interleave(
            torch.arange(len(index), device=device), counts, output_size=total
        )
        # Position of each stored value in the CSR arrays: its row's start plus
        # its rank within the row.
        first = torch.cumsum(counts, 0) - counts
        source = torch.arange(total, device=device) + torch.repeat_interleave(
            starts - first, counts, output_size=total
        )
        dense.index_put_(
            (rows, self.col_indices.index_select(0, source)),
            self.values.index_select(0, source),
            accumulate=True,
        )
        return dense


def as_rows(X) -> torch.Tensor | SparseRows:
    """Validated feature data as a tensor, or :class:`SparseRows` when sparse."""
    if scipy.sparse.issparse(X):
        return SparseRows.from_scipy(X)
    return torch.from_numpy(np.ascontiguousarray(X))


class InMemoryDataset(torch.utils.data.Dataset):
    """Tensors ``X`` and, for training, class indices ``y`` of the same length.

    With ``sample_weight``, the targets come as :class:`WeightedTarget`.

    For an ensemble whose members see different rows, ``member_rows`` holds the
    rows of each member, shape ``(n_members, n_rows)``, and ``member_weight``
    their weights (0 for a row repeated only to give every member as many), and
    :class:`MemberBatches` serves them. ``by_member=True`` (validation data)
    serves them so even where the net does not train.
    """

    def __init__(
        self,
        X: torch.Tensor,
        y: torch.Tensor | None = None,
        sample_weight: torch.Tensor | None = None,
        member_rows: torch.Tensor | None = None,
        member_weight: torch.Tensor | None = None,
        by_member: bool = False,
    ) -> None:
        self.X = X
        self.y = y
        self.sample_weight = sample_weight
        self.member_rows = member_rows
        self.member_weight = member_weight
        self.by_member = by_member

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, index):
        return self.X[index], self.targets(index)

    def targets(self, index):
        """The targets of the rows ``index`` (a slice or an index tensor)."""
        if self.y is None:
            return None
        if isinstance(index, torch.Tensor):
            target = self.y.index_select(0, index)
        else:
            target = self.y[index]
        if self.sample_weight is None:
            return target
        if isinstance(index, torch.Tensor):
            return WeightedTarget(target, self.sample_weight.index_select(0, index))
        return WeightedTarget(target, self.sample_weight[index])

    def to(self, device) -> InMemoryDataset:
        def move(tensor):
            return None if tensor is None else tensor.to(device)

        return InMemoryDataset(
            self.X.to(device),
            move(self.y),
            move(self.sample_weight),
            move(self.member_rows),
            move(self.member_weight),
            self.by_member,
        )


class MemberBatches:
    """Batches in which each ensemble member gets rows of its own.

    Iterates over the ``member_rows`` of an :class:`InMemoryDataset`: batch
    ``X`` has shape ``(batch, n_members, n_features)`` (member ``m``'s rows in
    ``X[:, m]``), and the targets are :class:`WeightedTarget` of shape
    ``(batch, n_members)``. With ``shuffle=True`` every member's rows are put
    in a new random order at the start of each pass, drawn from ``generator``.
    """

    def __init__(self, dataset, batch_size, shuffle, generator=None):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator

    def __len__(self) -> int:
        return -(-self.dataset.member_rows.shape[1] // self.batch_size)

    def __iter__(self):
        dataset = self.dataset
        rows, weight = dataset.member_rows, dataset.member_weight
        n_members, n_rows = rows.shape
        if self.shuffle:
            keys = torch.rand(
                (n_members, n_rows), generator=self.generator, device=rows.device
            )
            order = keys.argsort(dim=1)
            rows, weight = rows.gather(1, order), weight.gather(1, order)
        for start in range(0, n_rows, self.batch_size):
            chosen = rows[:, start : start + self.batch_size]
            size = chosen.shape[1]
            X = dataset.X.index_select(0, chosen.reshape(-1))
            X = X.reshape(n_members, size, *X.shape[1:]).transpose(0, 1)
            target = dataset.y.index_select(0, chosen.reshape(-1))
            target = target.reshape(n_members, size).T
            chosen_weight = weight[:, start : start + self.batch_size].T
            yield X, WeightedTarget(target, chosen_weight)


# Bytes of X gathered at once when shuffling (see TensorBatches).
_GATHER_BYTES = 1 << 20


class TensorBatches:
    """Iterate over an :class:`InMemoryDataset` in slices.

    With ``shuffle=True`` a new permutation is drawn on the data's device at the
    start of each pass, from ``generator`` (a :class:`torch.Generator` on that
    device; ``None`` takes torch's global one). With ``merge_single=True`` a last
    batch of one row joins the batch before it (batch normalisation cannot train
    on a single row).
    """

    def __init__(
        self,
        dataset: InMemoryDataset,
        batch_size: int,
        shuffle: bool,
        merge_single: bool = False,
        generator: torch.Generator | None = None,
    ):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.merge_single = merge_single
        self.generator = generator

    def _bounds(self) -> list[tuple[int, int]]:
        """Start and stop of each batch."""
        n_samples, size = len(self.dataset), self.batch_size
        bounds = [
            (start, min(start + size, n_samples)) for start in range(0, n_samples, size)
        ]
        if self.merge_single and len(bounds) > 1 and n_samples % size == 1:
            bounds[-2:] = [(bounds[-2][0], n_samples)]
        return bounds

    def __len__(self) -> int:
        return len(self._bounds())

    def __iter__(self):
        dataset = self.dataset
        X = dataset.X
        bounds = self._bounds()
        if not self.shuffle:
            for start, stop in bounds:
                yield X[start:stop], dataset.targets(slice(start, stop))
            return
        order = torch.randperm(len(X), device=X.device, generator=self.generator)
        # Rows are gathered in the shuffled order a block of batches at a time
        # (about _GATHER_BYTES of X), and batches are views into the block: two
        # gathers per block instead of two per batch, and at most one block of
        # extra memory.
        row_bytes = max(X[:1].nbytes, 1)
        per_block = max(_GATHER_BYTES // (row_bytes * self.batch_size), 1)
        for first in range(0, len(bounds), per_block):
            group = bounds[first : first + per_block]
            offset = group[0][0]
            index = order[offset : group[-1][1]]
            X_block = X.index_select(0, index)
            y_block = dataset.targets(index)
            for start, stop in group:
                start, stop = start - offset, stop - offset
                yield X_block[start:stop], _rows(y_block, start, stop)


def _rows(targets, start, stop):
    """Rows ``start:stop`` of a batch's targets (a tensor or WeightedTarget)."""
    if targets is None:
        return None
    if isinstance(targets, WeightedTarget):
        return WeightedTarget(targets.target[start:stop], targets.weight[start:stop])
    return targets[start:stop]
