"""Public loaders for the ordinal datasets bundled with skemd."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sklearn.utils import Bunch

from ._base import _SPECS, _load

__all__ = [
    "list_datasets",
    "load_balance_scale",
    "load_car",
    "load_dataset",
    "load_era",
    "load_esl",
    "load_lev",
    "load_survey",
    "load_swd",
    "load_winequality_red",
]


def load_era(*, return_X_y: bool = False, as_frame: bool = False) -> Bunch | tuple:
    """Load the ERA (employee rejection/acceptance) dataset.

    Students rated, from four ordinal attributes of a job applicant, how willing
    they would be to hire the applicant, on a scale from 1 to 9.

    =================  ==============================================
    Classes            9, ordered ``1 < 2 < ... < 9``
    Samples per class  92, 142, 181, 172, 158, 118, 88, 31, 18
    Samples total      1000
    Features           4 ordinal attributes, integers
    =================  ==============================================

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        If True, ``data`` is a pandas DataFrame and ``target`` a Series with an
        ordered Categorical dtype whose categories are ``classes``. Needs pandas.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the fields:

        data : ndarray of shape (1000, 4) or DataFrame
            The features; a float64 array when ``as_frame=False``.
        target : ndarray of shape (1000,) or Series
            The class labels, integers 1 to 9.
        classes : ndarray of shape (9,)
            The class labels in ordinal order, lowest first. Pass them to an
            estimator's ``classes=`` parameter.
        target_names : ndarray of shape (9,)
            ``classes`` as strings.
        feature_names : list of str
            ``["in1", "in2", "in3", "in4"]``.
        feature_categories : None
            Every feature is numeric.
        frame : DataFrame of shape (1000, 5) or None
            Features and target together when ``as_frame=True``, else None.
        DESCR : str
            Description of the dataset, its source, licence and provenance.
        filename : str
            Path to the bundled CSV file.
    (data, target) : tuple
        Returned instead of the Bunch when ``return_X_y=True``.

    References
    ----------
    .. [1] A. Ben-David, "Automatic generation of symbolic multiattribute
       ordinal knowledge-based DSSs: methodology and applications", Decision
       Sciences, 23(6), 1357-1372, 1992.

    Examples
    --------
    >>> from skemd.datasets import load_era
    >>> era = load_era()
    >>> era.data.shape
    (1000, 4)
    >>> era.classes
    array([1, 2, 3, 4, 5, 6, 7, 8, 9])
    >>> X, y = load_era(return_X_y=True)
    >>> y[:5]
    array([1, 1, 1, 1, 1])
    """
    return _load(_SPECS["era"], "load_era", return_X_y=return_X_y, as_frame=as_frame)


def load_esl(*, return_X_y: bool = False, as_frame: bool = False) -> Bunch | tuple:
    """Load the ESL (employee selection) dataset.

    Expert psychologists scored applicants for industrial jobs on four ordinal
    attributes drawn from tests and interviews, then gave each applicant an
    overall fitness score from 1 to 9.

    =================  ==============================================
    Classes            9, ordered ``1 < 2 < ... < 9``
    Samples per class  2, 12, 38, 100, 116, 135, 62, 19, 4
    Samples total      488
    Features           4 ordinal attributes, integers
    =================  ==============================================

    The outer classes are very small: class 1 has two samples, so a stratified
    split with more than two folds cannot keep it in every fold.

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        If True, ``data`` is a pandas DataFrame and ``target`` a Series with an
        ordered Categorical dtype whose categories are ``classes``. Needs pandas.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the fields:

        data : ndarray of shape (488, 4) or DataFrame
            The features; a float64 array when ``as_frame=False``.
        target : ndarray of shape (488,) or Series
            The class labels, integers 1 to 9.
        classes : ndarray of shape (9,)
            The class labels in ordinal order, lowest first.
        target_names : ndarray of shape (9,)
            ``classes`` as strings.
        feature_names : list of str
            ``["in1", "in2", "in3", "in4"]``.
        feature_categories : None
            Every feature is numeric.
        frame : DataFrame of shape (488, 5) or None
            Features and target together when ``as_frame=True``, else None.
        DESCR : str
            Description of the dataset, its source, licence and provenance.
        filename : str
            Path to the bundled CSV file.
    (data, target) : tuple
        Returned instead of the Bunch when ``return_X_y=True``.

    References
    ----------
    .. [1] A. Ben-David, "Automatic generation of symbolic multiattribute
       ordinal knowledge-based DSSs: methodology and applications", Decision
       Sciences, 23(6), 1357-1372, 1992.

    Examples
    --------
    >>> from skemd.datasets import load_esl
    >>> esl = load_esl()
    >>> esl.data.shape
    (488, 4)
    >>> esl.classes.tolist()
    [1, 2, 3, 4, 5, 6, 7, 8, 9]
    """
    return _load(_SPECS["esl"], "load_esl", return_X_y=return_X_y, as_frame=as_frame)


def load_lev(*, return_X_y: bool = False, as_frame: bool = False) -> Bunch | tuple:
    """Load the LEV (lecturer evaluation) dataset.

    Students rated lecturers on four ordinal attributes and gave an overall
    rating from 1 to 5.

    =================  ==============================================
    Classes            5, ordered ``1 < 2 < 3 < 4 < 5``
    Samples per class  93, 280, 403, 197, 27
    Samples total      1000
    Features           4 ordinal attributes, integers
    =================  ==============================================

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        If True, ``data`` is a pandas DataFrame and ``target`` a Series with an
        ordered Categorical dtype whose categories are ``classes``. Needs pandas.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the fields:

        data : ndarray of shape (1000, 4) or DataFrame
            The features; a float64 array when ``as_frame=False``.
        target : ndarray of shape (1000,) or Series
            The class labels, integers 1 to 5.
        classes : ndarray of shape (5,)
            The class labels in ordinal order, lowest first.
        target_names : ndarray of shape (5,)
            ``classes`` as strings.
        feature_names : list of str
            ``["in1", "in2", "in3", "in4"]``.
        feature_categories : None
            Every feature is numeric.
        frame : DataFrame of shape (1000, 5) or None
            Features and target together when ``as_frame=True``, else None.
        DESCR : str
            Description of the dataset, its source, licence and provenance.
        filename : str
            Path to the bundled CSV file.
    (data, target) : tuple
        Returned instead of the Bunch when ``return_X_y=True``.

    References
    ----------
    .. [1] A. Ben-David, "Automatic generation of symbolic multiattribute
       ordinal knowledge-based DSSs: methodology and applications", Decision
       Sciences, 23(6), 1357-1372, 1992.

    Examples
    --------
    >>> from skemd.datasets import load_lev
    >>> lev = load_lev()
    >>> lev.data.shape
    (1000, 4)
    >>> lev.classes.tolist()
    [1, 2, 3, 4, 5]
    """
    return _load(_SPECS["lev"], "load_lev", return_X_y=return_X_y, as_frame=as_frame)


def load_swd(*, return_X_y: bool = False, as_frame: bool = False) -> Bunch | tuple:
    """Load the SWD (social workers' decisions) dataset.

    Social workers assessed ten ordinal risk factors for children reported as
    abused or neglected; the target is the risk level, from 1 to 4, that the
    worker recommended to the court.

    =================  ==============================================
    Classes            4, ordered ``1 < 2 < 3 < 4``
    Samples per class  32, 352, 399, 217
    Samples total      1000
    Features           10 ordinal attributes, integers
    =================  ==============================================

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        If True, ``data`` is a pandas DataFrame and ``target`` a Series with an
        ordered Categorical dtype whose categories are ``classes``. Needs pandas.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the fields:

        data : ndarray of shape (1000, 10) or DataFrame
            The features; a float64 array when ``as_frame=False``.
        target : ndarray of shape (1000,) or Series
            The class labels, integers 1 to 4.
        classes : ndarray of shape (4,)
            The class labels in ordinal order, lowest first.
        target_names : ndarray of shape (4,)
            ``classes`` as strings.
        feature_names : list of str
            ``["in1", ..., "in10"]``.
        feature_categories : None
            Every feature is numeric.
        frame : DataFrame of shape (1000, 11) or None
            Features and target together when ``as_frame=True``, else None.
        DESCR : str
            Description of the dataset, its source, licence and provenance.
        filename : str
            Path to the bundled CSV file.
    (data, target) : tuple
        Returned instead of the Bunch when ``return_X_y=True``.

    References
    ----------
    .. [1] A. Ben-David, "Automatic generation of symbolic multiattribute
       ordinal knowledge-based DSSs: methodology and applications", Decision
       Sciences, 23(6), 1357-1372, 1992.

    Examples
    --------
    >>> from skemd.datasets import load_swd
    >>> swd = load_swd()
    >>> swd.data.shape
    (1000, 10)
    >>> swd.classes.tolist()
    [1, 2, 3, 4]
    """
    return _load(_SPECS["swd"], "load_swd", return_X_y=return_X_y, as_frame=as_frame)


def load_balance_scale(
    *, return_X_y: bool = False, as_frame: bool = False
) -> Bunch | tuple:
    """Load the balance scale dataset, with string labels ``L < B < R``.

    A weight sits on each arm of a balance, at some distance from the centre;
    the class says where the beam goes: down on the left (``"L"``), balanced
    (``"B"``) or down on the right (``"R"``). Read as the tilt from left to
    right the classes are ordered ``L < B < R``. The labels stay strings, so
    their order must come from ``classes``, not from sorting.

    =================  ==============================================
    Classes            3, ordered ``"L" < "B" < "R"``
    Samples per class  288, 49, 288
    Samples total      625
    Features           4 integers from 1 to 5
    =================  ==============================================

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        If True, ``data`` is a pandas DataFrame and ``target`` a Series with an
        ordered Categorical dtype whose categories are ``classes``. Needs pandas.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the fields:

        data : ndarray of shape (625, 4) or DataFrame
            The features; a float64 array when ``as_frame=False``.
        target : ndarray of shape (625,) or Series
            The class labels, strings (an object array when ``as_frame=False``).
        classes : ndarray of shape (3,)
            ``["L", "B", "R"]``, the ordinal order, lowest first. Pass it to an
            estimator's ``classes=`` parameter.
        target_names : ndarray of shape (3,)
            The same labels.
        feature_names : list of str
            ``["left_weight", "left_distance", "right_weight",
            "right_distance"]``.
        feature_categories : None
            Every feature is numeric.
        frame : DataFrame of shape (625, 5) or None
            Features and target together when ``as_frame=True``, else None.
        DESCR : str
            Description of the dataset, its source, licence and provenance.
        filename : str
            Path to the bundled CSV file.
    (data, target) : tuple
        Returned instead of the Bunch when ``return_X_y=True``.

    References
    ----------
    .. [1] R. S. Siegler, "Three aspects of cognitive development", Cognitive
       Psychology, 8, 481-520, 1976.

    Examples
    --------
    >>> from skemd.datasets import load_balance_scale
    >>> scale = load_balance_scale()
    >>> scale.classes.tolist()
    ['L', 'B', 'R']
    >>> sorted(set(scale.target)) == scale.classes.tolist()
    False
    """
    return _load(
        _SPECS["balance_scale"],
        "load_balance_scale",
        return_X_y=return_X_y,
        as_frame=as_frame,
    )


def load_car(*, return_X_y: bool = False, as_frame: bool = False) -> Bunch | tuple:
    """Load the car evaluation dataset, with string features and labels.

    Cars described by six categorical attributes are rated ``unacc``
    (unacceptable), ``acc`` (acceptable), ``good`` or ``vgood`` (very good) by a
    hierarchical decision model. The features are strings, so an estimator
    needs them encoded first, for example with
    :class:`~sklearn.preprocessing.OneHotEncoder`.

    =================  ==============================================
    Classes            4, ordered ``unacc < acc < good < vgood``
    Samples per class  1210, 384, 69, 65
    Samples total      1728
    Features           6 categorical attributes, strings
    =================  ==============================================

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        If True, ``data`` is a pandas DataFrame whose columns are ordered
        Categoricals and ``target`` a Series with an ordered Categorical dtype
        whose categories are ``classes``. Needs pandas.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the fields:

        data : ndarray of shape (1728, 6) or DataFrame
            The features; an object array of strings when ``as_frame=False``.
        target : ndarray of shape (1728,) or Series
            The class labels, strings.
        classes : ndarray of shape (4,)
            ``["unacc", "acc", "good", "vgood"]``, the ordinal order, lowest
            first.
        target_names : ndarray of shape (4,)
            The same labels.
        feature_names : list of str
            ``["buying", "maint", "doors", "persons", "lug_boot", "safety"]``.
        feature_categories : dict of str to list of str
            The levels of each feature, lowest first; in the order of
            ``feature_names`` they are what
            :class:`~sklearn.preprocessing.OrdinalEncoder` takes as
            ``categories``.
        frame : DataFrame of shape (1728, 7) or None
            Features and target together when ``as_frame=True``, else None.
        DESCR : str
            Description of the dataset, its source, licence and provenance.
        filename : str
            Path to the bundled CSV file.
    (data, target) : tuple
        Returned instead of the Bunch when ``return_X_y=True``.

    References
    ----------
    .. [1] M. Bohanec and V. Rajkovic, "Knowledge acquisition and explanation
       for multi-attribute decision making", 8th International Workshop on
       Expert Systems and their Applications, Avignon, France, 59-78, 1988.

    Examples
    --------
    >>> from sklearn.preprocessing import OrdinalEncoder
    >>> from skemd.datasets import load_car
    >>> car = load_car()
    >>> car.data[0].tolist()
    ['vhigh', 'vhigh', '2', '2', 'small', 'low']
    >>> levels = [car.feature_categories[name] for name in car.feature_names]
    >>> OrdinalEncoder(categories=levels).fit_transform(car.data)[0]
    array([3., 3., 0., 0., 0., 0.])
    >>> frame = load_car(as_frame=True).frame
    >>> frame["target"].cat.categories.tolist()
    ['unacc', 'acc', 'good', 'vgood']
    """
    return _load(_SPECS["car"], "load_car", return_X_y=return_X_y, as_frame=as_frame)


def load_winequality_red(
    *, return_X_y: bool = False, as_frame: bool = False
) -> Bunch | tuple:
    """Load the red wine quality dataset (quality scores 3 to 8).

    Eleven physico-chemical measurements of red Portuguese "Vinho Verde" wines
    and the median quality score of at least three expert tasters. The score
    is kept as published: the scale runs from 0 to 10, and only 3 to 8 occur.

    =================  ==============================================
    Classes            6, ordered ``3 < 4 < 5 < 6 < 7 < 8``
    Samples per class  10, 53, 681, 638, 199, 18
    Samples total      1599
    Features           11 real-valued measurements
    =================  ==============================================

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        If True, ``data`` is a pandas DataFrame and ``target`` a Series with an
        ordered Categorical dtype whose categories are ``classes``. Needs pandas.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the fields:

        data : ndarray of shape (1599, 11) or DataFrame
            The features; a float64 array when ``as_frame=False``.
        target : ndarray of shape (1599,) or Series
            The quality scores, integers 3 to 8.
        classes : ndarray of shape (6,)
            The scores in ordinal order, lowest first.
        target_names : ndarray of shape (6,)
            ``classes`` as strings.
        feature_names : list of str
            The measurements, with underscores in place of spaces, from
            ``"fixed_acidity"`` to ``"alcohol"``.
        feature_categories : None
            Every feature is numeric.
        frame : DataFrame of shape (1599, 12) or None
            Features and target together when ``as_frame=True``, else None.
        DESCR : str
            Description of the dataset, its source, licence and provenance.
        filename : str
            Path to the bundled CSV file.
    (data, target) : tuple
        Returned instead of the Bunch when ``return_X_y=True``.

    References
    ----------
    .. [1] P. Cortez, A. Cerdeira, F. Almeida, T. Matos and J. Reis, "Modeling
       wine preferences by data mining from physicochemical properties",
       Decision Support Systems, 47(4), 547-553, 2009.

    Examples
    --------
    >>> from skemd.datasets import load_winequality_red
    >>> wine = load_winequality_red()
    >>> wine.data.shape
    (1599, 11)
    >>> wine.classes.tolist()
    [3, 4, 5, 6, 7, 8]
    """
    return _load(
        _SPECS["winequality_red"],
        "load_winequality_red",
        return_X_y=return_X_y,
        as_frame=as_frame,
    )


def load_survey(*, return_X_y: bool = False, as_frame: bool = False) -> Bunch | tuple:
    """Load the student survey dataset: how often students exercise.

    Statistics students at the University of Adelaide answered a questionnaire:
    five numbers (hand spans, pulse, height, age) and six answers in words (sex,
    writing hand, how they fold their arms and clap, how much they smoke, which
    units they gave their height in). The target is how often they exercise,
    ``"None" < "Some" < "Freq"`` (frequently). Numbers and words in one table,
    as most tables are: scale the numbers and encode the words, for example
    with a :class:`~sklearn.compose.ColumnTransformer`.

    =================  ==============================================
    Classes            3, ordered ``"None" < "Some" < "Freq"``
    Samples per class  14, 69, 85
    Samples total      168
    Features           5 numbers and 6 text attributes
    =================  ==============================================

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        If True, ``data`` is a pandas DataFrame whose numeric columns are
        float64 and whose text columns hold strings, and ``target`` a Series
        with an ordered Categorical dtype whose categories are ``classes``.
        Needs pandas.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the fields:

        data : ndarray of shape (168, 11) or DataFrame
            The features. When ``as_frame=False``, an object array that holds
            floats in the numeric columns and strings in the text ones.
        target : ndarray of shape (168,) or Series
            The class labels, strings (an object array when ``as_frame=False``).
        classes : ndarray of shape (3,)
            ``["None", "Some", "Freq"]``, the ordinal order, lowest first. Pass
            it to an estimator's ``classes=`` parameter.
        target_names : ndarray of shape (3,)
            The same labels.
        feature_names : list of str
            ``["Sex", "Wr.Hnd", "NW.Hnd", "W.Hnd", "Fold", "Pulse", "Clap",
            "Smoke", "Height", "M.I", "Age"]``, the names of the R dataset.
        feature_categories : dict of str to list of str
            The six text features, each with the values it takes in
            alphabetical order. They are not ranked (``as_frame=True`` keeps
            them as text); the numeric features are not in it.
        frame : DataFrame of shape (168, 12) or None
            Features and target together when ``as_frame=True``, else None.
        DESCR : str
            Description of the dataset, its source, licence and provenance.
        filename : str
            Path to the bundled CSV file.
    (data, target) : tuple
        Returned instead of the Bunch when ``return_X_y=True``.

    Notes
    -----
    The data come from the R package MASS, licensed under the GNU GPL
    (version 2 or 3), unlike the other bundled datasets; ``DESCR`` gives the
    details.

    References
    ----------
    .. [1] W. N. Venables and B. D. Ripley, "Modern Applied Statistics with S",
       fourth edition, Springer, 2002.

    Examples
    --------
    >>> from skemd.datasets import load_survey
    >>> survey = load_survey(as_frame=True)
    >>> survey.data.shape
    (168, 11)
    >>> survey.classes.tolist()
    ['None', 'Some', 'Freq']
    >>> survey.data.select_dtypes("number").columns.tolist()
    ['Wr.Hnd', 'NW.Hnd', 'Pulse', 'Height', 'Age']
    >>> survey.target.value_counts(sort=False).tolist()
    [14, 69, 85]
    """
    return _load(
        _SPECS["survey"], "load_survey", return_X_y=return_X_y, as_frame=as_frame
    )


_LOADERS = {
    "balance_scale": load_balance_scale,
    "car": load_car,
    "era": load_era,
    "esl": load_esl,
    "lev": load_lev,
    "survey": load_survey,
    "swd": load_swd,
    "winequality_red": load_winequality_red,
}


def list_datasets() -> list[str]:
    """Return the names of the bundled datasets, in alphabetical order.

    Each name ``<name>`` has a loader ``load_<name>`` and can be passed to
    :func:`load_dataset`.

    Returns
    -------
    list of str
        The names, such as ``"era"``.

    Examples
    --------
    >>> from skemd.datasets import list_datasets
    >>> list_datasets()  # doctest: +NORMALIZE_WHITESPACE
    ['balance_scale', 'car', 'era', 'esl', 'lev', 'survey', 'swd',
     'winequality_red']
    """
    return sorted(_LOADERS)


def load_dataset(
    name: str, *, return_X_y: bool = False, as_frame: bool = False
) -> Bunch | tuple:
    """Load a bundled dataset by name.

    ``load_dataset("era")`` is the same as ``load_era()``; this form suits
    code that takes the name from a user, such as a command line.

    Parameters
    ----------
    name : str
        One of :func:`list_datasets`.
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        If True, return pandas objects, with the target as an ordered
        Categorical. Needs pandas.

    Returns
    -------
    :class:`~sklearn.utils.Bunch` or tuple
        What ``load_<name>`` returns.

    Raises
    ------
    ValueError
        If ``name`` is not a bundled dataset.

    Examples
    --------
    >>> from skemd.datasets import load_dataset
    >>> X, y = load_dataset("lev", return_X_y=True)
    >>> X.shape, y.shape
    ((1000, 4), (1000,))
    """
    try:
        loader: Any = _LOADERS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown dataset {name!r}; the bundled datasets are {list_datasets()}."
        ) from None
    return loader(return_X_y=return_X_y, as_frame=as_frame)
