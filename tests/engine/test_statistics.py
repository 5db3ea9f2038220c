"""The hand-written statistics agree with the libraries they replace."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import accuracy_score, precision_recall_fscore_support
from statsmodels.stats.multitest import multipletests

from app.engine.quality import classification_metrics, per_class_f1
from app.engine.stats import benjamini_hochberg, ks_2samp


def test_benjamini_hochberg_matches_statsmodels() -> None:
    p = np.random.default_rng(3).uniform(0, 0.2, 40)
    assert np.allclose(benjamini_hochberg(p), multipletests(p, method="fdr_bh")[1])


@pytest.mark.parametrize("seed", range(3))
def test_ks_2samp_is_scipys_public_test(seed: int) -> None:
    """Exact and asymptotic sizes, ties (counts), one side constant, shifted and equal."""
    rng = np.random.default_rng(seed)
    cases = [
        (rng.normal(size=500), rng.normal(size=30)),
        (rng.normal(size=500), rng.normal(0.8, 1, size=30)),
        (rng.poisson(3, size=400).astype(float), rng.poisson(4, size=25).astype(float)),
        (rng.normal(size=50), rng.normal(size=50)),
        (np.full(40, 2.0), rng.normal(size=40)),
        (rng.normal(size=12_000), rng.normal(0.05, 1, size=20_000)),
        (rng.exponential(size=3), rng.exponential(size=2)),
    ]
    for reference, current in cases:
        public = stats.ks_2samp(reference, current)
        assert ks_2samp(reference, current) == (public.statistic, public.pvalue)


def test_classification_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(5)
    labels = pd.Series(rng.choice(list("abcde"), 700))
    preds = labels.where(rng.random(700) < 0.7, pd.Series(rng.choice(list("abcdf"), 700)))
    ours = classification_metrics(preds, labels)
    p, r, f, _ = precision_recall_fscore_support(labels, preds, average="macro", zero_division=0)
    assert np.isclose(ours["accuracy"], accuracy_score(labels, preds))
    assert np.allclose([ours["precision"], ours["recall"], ours["f1"]], [p, r, f])


@pytest.mark.parametrize("seed", range(6))
def test_per_class_f1_matches_scikit_learn(seed: int) -> None:
    """Classes only predicted, only labelled, never right; numbers and unicode as classes."""
    rng = np.random.default_rng(seed)
    names = ["a", "b", "Σίγμα", "7", "7.0", "", "только-предсказан"]
    labels = pd.Series(rng.choice(names[:5], 400))
    preds = labels.where(rng.random(400) < 0.6, pd.Series(rng.choice(names, 400)))
    classes = sorted(set(labels.astype(str)))
    _, _, f, _ = precision_recall_fscore_support(
        labels.astype(str), preds.astype(str), labels=classes, average=None, zero_division=0
    )
    ours = per_class_f1(preds, labels)
    assert list(ours) == classes
    assert np.allclose(list(ours.values()), f, rtol=0, atol=1e-12)
