"""Sparse feature matrices: rows served dense, training equal to dense input."""

import warnings

import numpy as np
import pytest
import scipy.sparse
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from skemd import EMDClassifier
from skemd._data import InMemoryDataset, SparseRows, TensorBatches, as_rows


def _sparse(n_rows=40, n_features=7, density=0.3, seed=0):
    matrix = scipy.sparse.random(
        n_rows, n_features, density=density, format="csr", random_state=seed
    ).astype(np.float32)
    # Some empty rows, at the start, the middle and the end.
    for row in (0, n_rows // 2, n_rows - 1):
        matrix.data[matrix.indptr[row] : matrix.indptr[row + 1]] = 0
    matrix.eliminate_zeros()
    return matrix


@pytest.mark.parametrize(
    "key",
    [
        slice(None),
        slice(3, 17),
        slice(5, 6),
        slice(30, 100),
        slice(2, 33, 4),
        slice(10, 10),
    ],
)
def test_slices_are_the_dense_rows(key, device):
    matrix = _sparse()
    rows = SparseRows.from_scipy(matrix).to(device)
    taken = rows[key]
    assert taken.device.type == torch.device(device).type
    np.testing.assert_array_equal(taken.cpu().numpy(), matrix.toarray()[key])


def test_index_select_and_integers_are_the_dense_rows(device):
    matrix = _sparse()
    dense = matrix.toarray()
    rows = SparseRows.from_scipy(matrix).to(device)
    index = torch.tensor([39, 0, 20, 5, 5, 12], device=device)
    np.testing.assert_array_equal(
        rows.index_select(0, index).cpu().numpy(), dense[index.cpu().numpy()]
    )
    np.testing.assert_array_equal(rows[index].cpu().numpy(), dense[index.cpu()])
    np.testing.assert_array_equal(rows[7].cpu().numpy(), dense[7])
    np.testing.assert_array_equal(rows[-1].cpu().numpy(), dense[-1])
    assert len(rows) == 40 and rows.shape == (40, 7)
    assert rows.dtype == torch.float32
    with pytest.raises(ValueError, match="rows only"):
        rows.index_select(1, index)


def test_duplicate_entries_are_summed():
    # Column 1 of row 0 stored twice, as a CSR matrix may hold it.
    matrix = scipy.sparse.csr_matrix(
        (
            np.array([1.0, 2.0, 4.0, 8.0], dtype=np.float32),
            np.array([1, 1, 0, 2]),
            np.array([0, 3, 3, 4]),
        ),
        shape=(3, 3),
    )
    rows = SparseRows.from_scipy(matrix)
    np.testing.assert_array_equal(rows[:].numpy(), matrix.toarray())
    assert rows[0][1] == 3.0


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_as_rows_takes_any_sparse_format(fmt):
    matrix = _sparse().asformat(fmt)
    rows = as_rows(matrix)
    assert isinstance(rows, SparseRows)
    np.testing.assert_array_equal(rows[:].numpy(), matrix.toarray())
    dense = as_rows(matrix.toarray())
    assert isinstance(dense, torch.Tensor)


@pytest.mark.parametrize("shuffle", [False, True])
def test_batches_of_sparse_rows_equal_those_of_dense_rows(shuffle, device):
    matrix = _sparse(n_rows=203)
    y = torch.arange(203) % 3
    sparse = InMemoryDataset(SparseRows.from_scipy(matrix), y).to(device)
    dense = InMemoryDataset(torch.from_numpy(matrix.toarray()), y).to(device)
    batches = []
    for dataset in (sparse, dense):
        torch.manual_seed(0)
        batches.append(list(TensorBatches(dataset, 16, shuffle)))
    assert len(batches[0]) == len(batches[1]) == 13
    for (X_s, y_s), (X_d, y_d) in zip(*batches, strict=True):
        torch.testing.assert_close(X_s, X_d, rtol=0, atol=0)
        torch.testing.assert_close(y_s, y_d, rtol=0, atol=0)


def _problem(n_samples=240, seed=0):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 6, size=(n_samples, 3))
    X = OneHotEncoder().fit_transform(codes).astype(np.float32)
    y = np.minimum((codes[:, 0] + rng.integers(0, 2, size=n_samples)) // 2, 3)
    return X, y


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"early_stopping": True},
        {"ground_distance": "learned", "warmup_epochs": 2},
        {"solver": "sgd", "shuffle": False},
    ],
    ids=["default", "early_stopping", "learned", "sgd_unshuffled"],
)
@pytest.mark.parametrize("weighted", [False, True])
def test_fit_on_sparse_equals_fit_on_dense(params, weighted, device):
    X, y = _problem()
    weight = np.random.default_rng(1).integers(0, 3, size=len(y)) if weighted else None
    fits = []
    for data in (X, X.toarray()):
        clf = EMDClassifier(
            hidden_layer_sizes=(12,),
            max_iter=15,
            batch_size=32,
            random_state=0,
            device=device,
            **params,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits.append(clf.fit(data, y, sample_weight=weight))
    sparse_fit, dense_fit = fits
    assert sparse_fit.n_iter_ == dense_fit.n_iter_
    assert sparse_fit.loss_curve_ == dense_fit.loss_curve_
    np.testing.assert_array_equal(
        sparse_fit.predict_proba(X), dense_fit.predict_proba(X.toarray())
    )
    np.testing.assert_array_equal(
        sparse_fit.ground_distance_, dense_fit.ground_distance_
    )


def test_partial_fit_on_sparse_equals_dense():
    X, y = _problem()
    clfs = [
        EMDClassifier(hidden_layer_sizes=(12,), random_state=0, shuffle=False)
        for _ in range(2)
    ]
    for start in range(0, len(y), 80):
        part = slice(start, start + 80)
        clfs[0].partial_fit(X[part], y[part], classes=[0, 1, 2, 3])
        clfs[1].partial_fit(X[part].toarray(), y[part], classes=[0, 1, 2, 3])
    np.testing.assert_array_equal(
        clfs[0].predict_proba(X), clfs[1].predict_proba(X.toarray())
    )


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_predict_takes_any_sparse_format(fmt):
    X, y = _problem()
    clf = EMDClassifier(hidden_layer_sizes=(12,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    np.testing.assert_array_equal(
        clf.predict_proba(X.asformat(fmt)), clf.predict_proba(X.toarray())
    )


def test_one_hot_encoder_pipeline_learns():
    # OneHotEncoder's output is sparse by default.
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 8, size=(400, 2))
    y = codes[:, 0] // 2
    model = make_pipeline(
        OneHotEncoder(), EMDClassifier(max_iter=60, random_state=0)
    ).fit(codes, y)
    assert scipy.sparse.issparse(model[0].transform(codes))
    assert model.score(codes, y) > 0.95


def test_sparse_nan_is_refused():
    X, y = _problem()
    X = X.tocsr(copy=True)
    X.data[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        EMDClassifier(max_iter=2).fit(X, y)


def test_row_out_of_range_is_an_index_error():
    rows = SparseRows.from_scipy(_sparse())
    with pytest.raises(IndexError, match="row 40 is out of range for 40 rows"):
        rows[40]
    with pytest.raises(IndexError):
        rows[-41]


def test_dense_columns_of_a_sparse_matrix_equal_the_dense_ones():
    from skemd._modules import dense_columns

    matrix = _sparse(n_rows=30, n_features=6, density=0.4, seed=3)
    # A stored duplicate and an explicit zero, which toarray() sums and keeps.
    coo = matrix.tocoo()
    rows = np.r_[coo.row, coo.row[:2], 5]
    cols = np.r_[coo.col, coo.col[:2], 1]
    values = np.r_[coo.data, np.float32([0.25, -1.5]), np.float32(0.0)]
    odd = scipy.sparse.coo_matrix((values, (rows, cols)), shape=matrix.shape)
    dense = odd.toarray()
    for sparse_format in ("csr", "csc", "coo"):
        got = list(dense_columns(odd.asformat(sparse_format)))
        assert len(got) == dense.shape[1]
        for j, column in enumerate(got):
            assert column.dtype == np.float64
            np.testing.assert_array_equal(column, dense[:, j].astype(np.float64))


def test_wide_inputs_get_smaller_prediction_batches(quiet_convergence):
    from conftest import ensemble_classifier, ordinal_problem

    X, y = ordinal_problem(n_samples=120)
    narrow = ensemble_classifier(max_iter=1).fit(X, y)
    assert narrow.net_.get_params()["iterator_valid__batch_size"] == 8192
    wide = scipy.sparse.hstack(
        [scipy.sparse.csr_matrix(X), _sparse(n_rows=120, n_features=1800)]
    ).tocsr()
    clf = ensemble_classifier(max_iter=1).fit(wide, y)
    rows = clf.net_.get_params()["iterator_valid__batch_size"]
    # About 2**23 input numbers over the five members' copies of a batch.
    assert rows == max(clf.net_.batch_size, 2**23 // (5 * 1803))
    assert rows < 8192
    np.testing.assert_array_equal(
        clf.predict(wide), ensemble_classifier(max_iter=1).fit(wide, y).predict(wide)
    )
