"""
====================================================
Tables of numbers and text: encoding the features
====================================================

A network takes numbers, and most tables hold text too. In a pipeline, a
:class:`~sklearn.compose.ColumnTransformer` prepares each kind of column its own
way before :class:`~skemd.EMDClassifier` sees them: the numbers scaled with a
:class:`~sklearn.preprocessing.StandardScaler`, the text one-hot encoded with a
:class:`~sklearn.preprocessing.OneHotEncoder`. The first part does this on a
student survey of five numbers and six answers in words.

Where every feature is a category, the encoding is a choice of its own: one
column per category (a sparse matrix, which the estimator takes as it is), or,
for ordered categories, one ranked column per attribute with an
:class:`~sklearn.preprocessing.OrdinalEncoder`. The second part compares the
two on the car evaluation data.
"""

# %%
# A table of numbers and text
# ---------------------------
# Statistics students said how often they exercise, ``None < Some < Freq``, and
# answered ten other questions. With ``as_frame=True`` the numbers come as
# float columns, the answers in words as text, and the target as an ordered
# ``Categorical`` whose order the estimator takes.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.compose import make_column_selector, make_column_transformer
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from skemd import EMDClassifier
from skemd.datasets import load_car, load_survey
from skemd.metrics import mae, qwk
from skemd.plotting import plot_confusion_matrix

survey = load_survey(as_frame=True)
X, y = survey.data, survey.target
print(X.head(3).to_string())
print(X.dtypes.value_counts().to_string())
print("classes, lowest first:", list(survey.classes))

# %%
# The pipeline
# ------------
# :func:`~sklearn.compose.make_column_selector` picks the columns by their
# type, so the pipeline names none of them. ``handle_unknown="ignore"`` encodes
# an answer that the training part never saw (a rare one can miss a fold) as
# all zeros.
features = make_column_transformer(
    (StandardScaler(), make_column_selector(dtype_include="number")),
    (
        OneHotEncoder(handle_unknown="ignore"),
        make_column_selector(dtype_exclude="number"),
    ),
)
survey_model = make_pipeline(features, EMDClassifier(random_state=0))
print(features.fit_transform(X).shape[1], "columns after encoding")

# %%
# 168 students are few for a test split of their own, so every student is
# predicted once, by the pipeline trained on the other four fifths
# (:func:`~sklearn.model_selection.cross_val_predict`). The reference is the
# constant median class, ``Freq``: a model that does no better has learnt
# nothing of use.
folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
y_pred = cross_val_predict(survey_model, X, y, cv=folds)
median = np.full(len(y), "Freq", dtype=object)
for name, prediction in {"pipeline": y_pred, "median class": median}.items():
    print(
        f"{name:14}  MAE {mae(y, prediction, classes=survey.classes):.3f}  "
        f"QWK {qwk(y, prediction, classes=survey.classes):.3f}"
    )
plot_confusion_matrix(
    y, y_pred, classes=survey.classes, title="Exercise, cross-validated"
)
plt.show()

# %%
# The answers say a little about how much a student exercises, not much: the
# pipeline's error is below the constant's, its kappa above zero, and the small
# lowest class (14 students) is rarely if ever predicted. Such a weak signal is
# common in survey data; compare with a constant before reading more into a
# model.
#
# One-hot or ranked categories
# ----------------------------
# The car evaluation data rates 1 728 cars ``unacc < acc < good < vgood`` from
# six categorical attributes: buying price, maintenance cost, doors, persons,
# boot size and safety. All of them are text, so the whole table can go to one
# encoder. :class:`~sklearn.preprocessing.OneHotEncoder` gives one column per
# category, as a sparse matrix: 21 categories in all, six ones in each row.
car = load_car(as_frame=True)
X_car, y_car = car.data, car.target
X_train, X_test, y_train, y_test = train_test_split(
    X_car, y_car, test_size=0.3, stratify=y_car, random_state=0
)
encoded = OneHotEncoder().fit_transform(X_train)
print(
    f"{type(encoded).__name__}, shape {encoded.shape}, "
    f"{encoded.nnz / np.prod(encoded.shape):.0%} of the entries stored"
)

network = dict(random_state=0, classes=car.classes)
sparse_model = make_pipeline(OneHotEncoder(), EMDClassifier(**network))
sparse_model.fit(X_train, y_train)

# %%
# Most of these attributes are ordered themselves (``low < med < high <
# vhigh``), and the loader gives their levels, lowest first, in
# ``feature_categories``: an :class:`~sklearn.preprocessing.OrdinalEncoder`
# given them makes one ranked column per attribute.
orders = [car.feature_categories[name] for name in car.feature_names]
print("buying:", orders[0])
ranked_model = make_pipeline(
    OrdinalEncoder(categories=orders), StandardScaler(), EMDClassifier(**network)
)
ranked_model.fit(X_train, y_train)

# %%
# Test scores and confusion matrices
# ----------------------------------
models = {"one-hot (sparse)": sparse_model, "ranked categories": ranked_model}
fig, axes = plt.subplots(1, 2, figsize=(10, 4.5), layout="constrained")
for ax, (name, model) in zip(axes, models.items(), strict=True):
    y_car_pred = model.predict(X_test)
    print(
        f"{name:18}  MAE {mae(y_test, y_car_pred, classes=model):.3f}  "
        f"QWK {qwk(y_test, y_car_pred, classes=model):.3f}  "
        f"epochs {model[-1].n_iter_}"
    )
    plot_confusion_matrix(y_test, y_car_pred, classes=model, ax=ax, title=name)
plt.show()

# %%
# Both encodings feed the same network. One-hot lets the network treat every
# category on its own, at the price of more inputs; ranking uses the order of
# the attributes, with fewer inputs, and starts from the assumption that each
# step up an attribute pushes the same way. On this split one-hot does better:
# the ratings follow rules (a car with low safety, or for two persons, is
# unacceptable whatever else it offers) that single categories express
# directly. On your own data, compare encodings with cross-validation and an
# ordinal scorer such as :data:`skemd.metrics.neg_mae_scorer`.
