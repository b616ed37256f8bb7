"""Other settings of EMDClassifier, as candidates for ``quality.py``.

Each factory takes the seed of a partition and returns an unfitted estimator;
``quality.py`` caches each candidate's results under its name and a hash of the
estimator's parameters, so editing a setting here recomputes that candidate
only. To measure them on inner validation splits of the selection part::

    python benchmarks/quality.py --protocol inner --partitions 10 \\
        --partitions-large 3 --candidates benchmarks/candidates_variants.py \\
        --methods emd ce emd_median emd_learned emd_uniform --jobs 2

A candidate may be any scikit-learn classifier; add a name to
``NATIVE_CATEGORICAL`` to give its estimator text columns as pandas categories
instead of one-hot columns.
"""

from skemd import EMDClassifier


def _emd(seed, **params):
    return EMDClassifier(random_state=seed, **params)


CANDIDATES = {
    # The median of the predicted distribution instead of its most probable class.
    "emd_median": lambda seed: _emd(seed, decision="median"),
    # A ground distance learned during training, with the cross-entropy that
    # ce_weight="auto" mixes in, and alone.
    "emd_learned": lambda seed: _emd(seed, ground_distance="learned"),
    "emd_learned_alone": lambda seed: _emd(
        seed, ground_distance="learned", ce_weight=0
    ),
    "emd_uniform": lambda seed: _emd(seed, ground_distance="uniform"),
    "emd_balanced": lambda seed: _emd(seed, class_weight="balanced"),
}
NATIVE_CATEGORICAL = ()
