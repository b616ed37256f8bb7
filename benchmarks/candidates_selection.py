"""Candidate defaults of EMDClassifier, measured on inner validation splits.

The rounds that chose the network's defaults, as ``quality.py`` candidates.
Each factory takes the seed of a partition and returns an unfitted estimator.
Run a round on the selection part (inner protocol: fit and score inside the
training parts; the test parts are never read), for example::

    python benchmarks/quality.py --protocol inner --partitions 5 \\
        --partitions-large 2 --candidates benchmarks/candidates_selection.py \\
        --methods hgb logat tab tab_plain --jobs 2

The reports of the rounds are in ``results/quality_inner_round_*.md``. Round A
measured the ingredients (embeddings, the ensemble, patience), round B the
size of the network and of the ensemble, round C the batch size and width.
Round C's ``tabC``, with batches growing with the data, became the defaults
(its ``batch_size`` is the library default of the time, as now).
"""

from skemd import EMDClassifier

# The ensemble as first measured: five (100, 100) networks, each stopped on its
# own fifth of the rows, with piecewise-linear embeddings of numeric features.
TAB = dict(
    n_estimators=5,
    hidden_layer_sizes=(100, 100),
    numeric_embedding="piecewise_linear",
    n_bins=48,
    embedding_dim=16,
    early_stopping=True,
    validation_fraction=0.2,
    n_iter_no_change=16,
    decision="argmax",
    batch_size=200,
)


ROUND_B = dict(n_iter_no_change=8, decision="median")
SMALL = dict(hidden_layer_sizes=(64, 64), n_bins=24, embedding_dim=8)


def _emd(seed, **params):
    return EMDClassifier(random_state=seed, **params)


def _tab(seed, **changes):
    return _emd(seed, **{**TAB, **changes})


CANDIDATES = {
    # Round A: the ingredients.
    "tab": lambda seed: _tab(seed),
    "tab_plain": lambda seed: _tab(seed, numeric_embedding=None),
    "tab_single": lambda seed: _tab(seed, n_estimators=1),
    "tab_patience8": lambda seed: _tab(seed, n_iter_no_change=8),
    # Round B: patience 8 and the median decision; a smaller network, fewer members.
    "tabB": lambda seed: _tab(seed, **ROUND_B),
    "tabB_small": lambda seed: _tab(seed, **ROUND_B, **SMALL),
    "tabB_k3": lambda seed: _tab(seed, **ROUND_B, n_estimators=3),
    # Round C: the small network with the library's batch size, a fixed batch
    # of 200, and the wider network again.
    "tabC": lambda seed: _tab(seed, **ROUND_B, **SMALL, batch_size="auto"),
    "tabC_b200": lambda seed: _tab(seed, **ROUND_B, **SMALL),
    "tabC_wide": lambda seed: _tab(seed, **ROUND_B, batch_size="auto"),
}
