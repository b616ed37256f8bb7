"""scikit-learn's estimator checks, all of them, with no expected failures.

The checks require ``predict`` to agree with the argmax of ``predict_proba``, which
is the default decision rule; the other rules are tested in test_classifier.py.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skemd import EMDClassifier


def _fast_instances():
    yield EMDClassifier(
        hidden_layer_sizes=(16,),
        learning_rate_init=0.01,
        max_iter=50,
        random_state=0,
    )
    yield EMDClassifier(
        hidden_layer_sizes=(16,),
        ground_distance="uniform",
        ce_weight=0.5,
        learning_rate_init=0.01,
        max_iter=50,
        early_stopping=True,
        random_state=0,
    )
    yield EMDClassifier(
        hidden_layer_sizes=(16,),
        ground_distance="learned",
        warmup_epochs=2,
        ce_weight=1.0,
        learning_rate_init=0.01,
        max_iter=50,
        random_state=0,
    )


@parametrize_with_checks(list(_fast_instances()))
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
