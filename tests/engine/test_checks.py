"""Each check on hand-built windows, including the false-alarm cases."""

import warnings

import numpy as np
import pandas as pd
import pytest
from evidently.legacy.calculations.stattests import jensenshannon_stat_test, wasserstein_stat_test
from evidently.legacy.core import ColumnType
from evidently.legacy.utils.data_drift_utils import get_typical_words, roc_auc_domain_classifier
from scipy import stats
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.utils.class_weight import compute_class_weight

from app.datasets import chatterbot, health_tweets
from app.engine.drift import (
    MAX_CLASS_SERIES,
    OTHER_CLASSES,
    descriptor_drift,
    distribution_drift,
    embedding_drift,
    embedding_null_quantile,
    embedding_spread,
    normed_wasserstein,
)
from app.engine.embeddings import normalise
from app.engine.longtail import _balanced, longtail_check
from app.engine.perplexity import perplexity_check
from app.engine.quality import quality_check
from app.engine.results import Status
from app.engine.text_drift import (
    TextReference,
    chance_auc,
    split_counts,
    text_drift,
    typical_words,
)
from app.engine.thresholds import Thresholds

T = Thresholds()


def frame(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "prompt_chars": rng.gamma(4, 20, n) * (1 + shift),
            "prompt_words": rng.poisson(12, n).astype(float),
            "language": rng.choice(["en", "es", "fr"], n, p=[0.8, 0.15, 0.05]),
            "refusal": rng.random(n) < 0.02,
        }
    )


def test_identical_distributions_at_100k_rows_stay_ok() -> None:
    rng = np.random.default_rng(0)
    ref, cur = frame(rng, 20_000), frame(rng, 100_000)
    result = descriptor_drift(
        ref, cur, numeric=["prompt_chars", "prompt_words"],
        categorical=["language", "refusal"], thresholds=T,
    )  # fmt: skip
    assert result.status is Status.OK, result.summary


def test_a_real_shift_drifts_and_a_trivial_one_at_large_n_does_not() -> None:
    rng = np.random.default_rng(1)
    ref = frame(rng, 20_000)
    cols = {"numeric": ["prompt_chars", "prompt_words"], "categorical": ["language", "refusal"]}
    big = descriptor_drift(ref, frame(rng, 5_000, shift=0.5), thresholds=T, **cols)
    assert big.status in (Status.WARNING, Status.DRIFT)
    assert big.metric("drift_score", "prompt_chars") > T.wasserstein
    # 2% longer prompts: "significant" at 100k rows, but far below the effect-size bar.
    tiny = descriptor_drift(ref, frame(rng, 100_000, shift=0.02), thresholds=T, **cols)
    assert tiny.status is Status.OK, tiny.summary


def test_prediction_drift_names_classes_new_to_the_baseline() -> None:
    rng = np.random.default_rng(2)
    ref = pd.Series(rng.choice(["billing", "tech", "account"], 5000))
    cur = pd.Series(np.r_[rng.choice(["billing", "tech", "account"], 900), ["refund"] * 100])
    result = distribution_drift(ref, cur, check="prediction_drift", thresholds=T, min_events=30)
    assert result.status is Status.DRIFT
    assert "refund" in result.summary and result.details["new_classes"] == {"refund": 0.1}
    same = distribution_drift(
        ref, pd.Series(rng.choice(["billing", "tech", "account"], 1000)),
        check="prediction_drift", thresholds=T, min_events=30,
    )  # fmt: skip
    assert same.status is Status.OK
    shares = {m.feature: m.value for m in result.metrics if m.name == "class_share"}
    assert shares["__other__"] == 0.1 and set(shares) == {"billing", "tech", "account", "__other__"}


def test_free_text_predictions_give_a_bounded_number_of_class_series() -> None:
    # 5,000 distinct predictions (a generative model's free text): each class_share is a
    # Prometheus series, so only the baseline's top classes keep their own.
    ref = pd.Series([f"answer {i % 300}" for i in range(3000)])
    cur = pd.Series([f"reply {i}" for i in range(5000)])
    result = distribution_drift(ref, cur, check="prediction_drift", thresholds=T, min_events=30)
    shares = [m for m in result.metrics if m.name == "class_share"]
    assert len(shares) == MAX_CLASS_SERIES + 1
    other = next(m for m in shares if m.feature == OTHER_CLASSES)
    assert other.value == pytest.approx(1.0) and sum(m.value for m in shares) == pytest.approx(1.0)
    assert len(result.details["new_classes"]) == MAX_CLASS_SERIES
    assert result.status is Status.DRIFT


def test_embedding_drift_uses_the_baselines_own_bootstrap() -> None:
    rng = np.random.default_rng(3)
    ref = normalise(rng.normal(size=(4000, 16)) + 3)
    same = normalise(rng.normal(size=(1000, 16)) + 3)
    moved = normalise(np.r_[rng.normal(size=(800, 16)) + 3, rng.normal(size=(200, 16)) - 3])
    assert embedding_drift(ref, same, thresholds=T).status is Status.OK
    assert embedding_drift(ref, moved, thresholds=T).status is Status.DRIFT


@pytest.mark.parametrize(("rows", "window", "dims"), [(250, 30, 100), (250, 1, 8), (900, 3000, 16)])
def test_the_embedding_null_is_the_bootstrap_of_resampled_means(
    rows: int, window: int, dims: int
) -> None:
    """The counts-times-baseline null equals drawing the rows and averaging them."""
    reference = normalise(np.random.default_rng(5).normal(size=(rows, dims))).astype(np.float32)
    rng, scale = np.random.default_rng(0), embedding_spread(reference)
    # Every round's window rows are drawn first, then every round's baseline rows.
    window_rows, baseline_rows = (
        rng.integers(0, rows, (200, window)),
        rng.integers(0, rows, (200, rows)),
    )
    shifts = []
    for w, b in zip(window_rows, baseline_rows, strict=True):
        a = reference[w].astype(np.float64).mean(axis=0) - reference[b].astype(np.float64).mean(
            axis=0
        )
        shifts.append(np.linalg.norm(a) / scale)
    for q in (0.5, 0.99):
        assert embedding_null_quantile(reference, window, quantile=q) == pytest.approx(
            np.quantile(shifts, q), rel=1e-9
        )


@pytest.mark.parametrize(("reference", "window"), [(125, 15), (250, 30), (40, 400), (1000, 11)])
def test_long_tails_weights_are_scikit_learns_balanced_classes(reference: int, window: int) -> None:
    """The novelty classifier's sample weights fit exactly what ``class_weight="balanced"``
    fits (they replace it: its label encoding cost a third of a small window's fit)."""
    rng = np.random.default_rng(reference + window)
    x = rng.normal(size=(reference + window, 16))
    y = np.r_[np.zeros(reference), np.ones(window)]
    weights = _balanced(y)
    expected = compute_class_weight("balanced", classes=np.array([0.0, 1.0]), y=y)
    assert np.allclose(weights, expected[y.astype(int)], rtol=0, atol=1e-12)
    balanced = LogisticRegression(class_weight="balanced", max_iter=200).fit(x, y)
    weighted = LogisticRegression(max_iter=200).fit(x, y, sample_weight=weights)
    assert np.allclose(weighted.decision_function(x), balanced.decision_function(x), atol=1e-9)


def test_long_tail_flags_a_novel_cluster_and_lists_it() -> None:
    rng = np.random.default_rng(4)
    centre = rng.normal(size=32)
    ref = normalise(centre + rng.normal(scale=0.3, size=(3000, 32)))
    familiar = normalise(centre + rng.normal(scale=0.3, size=(900, 32)))
    novel = normalise(-centre + rng.normal(scale=0.3, size=(100, 32)))
    window = pd.DataFrame({"request_id": [f"r{i}" for i in range(1000)]})
    result = longtail_check(ref, np.r_[familiar, novel], window, thresholds=T)
    assert result.status is Status.WARNING
    assert result.metric("novel_share") >= 0.1
    assert {x["id"] for x in result.details["top_novel"]} <= {f"r{i}" for i in range(900, 1000)}
    calm = longtail_check(ref, familiar, window.iloc[:900], thresholds=T)
    assert calm.status is Status.OK


def labelled(rng: np.random.Generator, n: int, accuracy: float) -> pd.DataFrame:
    labels = rng.choice(list("abcd"), n)
    wrong = rng.choice(list("abcd"), n)
    preds = np.where(rng.random(n) < accuracy, labels, wrong)
    return pd.DataFrame({"prediction": preds, "label": labels, "score": rng.beta(8, 2, n)})


def test_quality_degrades_only_on_a_real_drop() -> None:
    rng = np.random.default_rng(5)
    base = labelled(rng, 2000, 0.9)
    same = quality_check(base, labelled(rng, 500, 0.9), thresholds=T)
    assert same.status is Status.OK
    worse = quality_check(base, labelled(rng, 500, 0.6), thresholds=T)
    assert worse.status is Status.DEGRADED and "f1" in worse.summary
    assert worse.metric("f1_ci_high") < worse.metric("baseline_f1")
    few = quality_check(base, labelled(rng, 10, 0.1), thresholds=T)
    assert few.status is Status.INSUFFICIENT_DATA  # 10 labels cannot say "degraded"


def test_label_coverage_is_reported() -> None:
    rng = np.random.default_rng(6)
    window = labelled(rng, 400, 0.9)
    window.loc[window.index[:300], "label"] = None
    result = quality_check(labelled(rng, 1000, 0.9), window, thresholds=T)
    assert result.metric("label_coverage") == 0.25


def test_perplexity_rise() -> None:
    rng = np.random.default_rng(7)
    base = pd.Series(rng.gamma(5, 1, 2000))
    assert perplexity_check(base, pd.Series(rng.gamma(5, 1, 500)), thresholds=T).status is Status.OK
    high = perplexity_check(base, pd.Series(rng.gamma(5, 1.5, 500)), thresholds=T)
    assert high.status is Status.DEGRADED and high.metric("relative_rise") > 0.2


def test_text_drift_gives_one_answer_whatever_ran_before_it() -> None:
    # Two halves of the same news: any AUC is chance, and the same window must get the same
    # figure however the process's global RNG was left by the code that ran before.
    texts = health_tweets(without_urls=True)["text"].iloc[:400].reset_index(drop=True)
    ref, cur = texts.iloc[:200], texts.iloc[200:]
    aucs = set()
    for state in (0, 1, 12345):
        np.random.seed(state)
        result = text_drift(ref, cur, thresholds=T)
        aucs.add(result.summary)
        assert np.random.randint(1 << 30) == np.random.RandomState(state).randint(1 << 30)
    assert len(aucs) == 1, aucs


@pytest.mark.parametrize(("n_reference", "n_current"), [(25, 25), (60, 400), (1000, 1000)])
def test_the_text_tests_chance_level_is_exceeded_by_one_random_classifier_in_a_hundred(
    n_reference: int, n_current: int
) -> None:
    rng = np.random.default_rng(7)
    labels = np.r_[np.zeros(n_reference, int), np.ones(n_current, int)]
    aucs = np.array([roc_auc_score(labels, rng.random(len(labels))) for _ in range(4000)])
    above = float(np.mean(aucs > chance_auc(n_reference, n_current, p_value=0.01)))
    assert 0.004 <= above <= 0.02, above


def test_text_drift_fires_on_a_new_domain_and_not_on_the_same_news() -> None:
    # The decision with the closed-form chance level, both ways on real text: chatbot
    # questions reaching a health-news model, and two halves of the same shuffled news.
    news = health_tweets(without_urls=True).sample(frac=1, random_state=3)["text"]
    news = news.reset_index(drop=True)
    chat = chatterbot()["prompt"].sample(300, random_state=3).reset_index(drop=True)
    shifted = text_drift(news.iloc[:300], chat, thresholds=T)
    assert shifted.status is Status.DRIFT, shifted.summary
    assert shifted.metric("roc_auc") > chance_auc(150, 150, p_value=0.01)
    calm = text_drift(news.iloc[:300], news.iloc[300:600], thresholds=T)
    assert calm.status is not Status.DRIFT, calm.summary


@pytest.mark.parametrize("seed", range(4))
def test_the_normed_wasserstein_is_evidentlys(seed: int) -> None:
    """Counts with ties, continuous values, a constant reference (the 0.001 floor), one row."""
    rng = np.random.default_rng(seed)
    cases = [
        (rng.poisson(20, 500), rng.poisson(23, 5000)),
        (rng.normal(size=300), rng.normal(0.3, 1.2, size=40)),
        (np.full(100, 3.0), rng.integers(0, 5, 70)),
        (rng.gamma(2, size=200), np.array([1.5])),
    ]
    for reference, current in cases:
        ref, cur = pd.Series(reference, dtype=float), pd.Series(current, dtype=float)
        evidently = wasserstein_stat_test(ref, cur, ColumnType.Numerical, 0.1).drift_score
        ours = normed_wasserstein(ref.to_numpy(), cur.to_numpy())
        assert ours == pytest.approx(evidently, rel=1e-9, abs=1e-12)


def _evidentlys_text_drift(ref: pd.Series, cur: pd.Series) -> tuple[float, tuple[list[str], ...]]:
    """Evidently's domain classifier on the split text drift uses (its seed, stratified)."""
    ref, cur = ref.fillna("").astype(str), cur.fillna("").astype(str)
    texts = pd.concat([ref, cur], ignore_index=True)
    target = np.r_[np.zeros(len(ref), int), np.ones(len(cur), int)]
    x_train, x_test, y_train, y_test = train_test_split(
        texts, target, test_size=0.5, random_state=42, shuffle=True, stratify=target
    )
    with warnings.catch_warnings():  # its SGD stops at max_iter, as text drift's does
        warnings.simplefilter("ignore", ConvergenceWarning)
        auc, _, pipeline = roc_auc_domain_classifier(x_train, x_test, y_train, y_test)
    return auc, get_typical_words(pipeline, words_num=15)


@pytest.mark.parametrize("seed", range(3))
def test_text_drift_is_evidentlys_domain_classifier(seed: int) -> None:
    """Same AUC and words as Evidently's own pipeline, whether the baseline's prompts were
    analysed when it was profiled (and through the profile codec) or are analysed here: a
    new domain, the same news, a small window, empty and missing prompts."""
    news = health_tweets(without_urls=True).sample(frac=1, random_state=seed)["text"]
    news = news.reset_index(drop=True)
    chat = chatterbot()["prompt"].sample(200, random_state=seed).reset_index(drop=True)
    gappy = news.iloc[900:960].copy()
    gappy.iloc[::7] = None
    gappy.iloc[3] = ""
    cases = [(news.iloc[:300], chat), (news.iloc[:500], news.iloc[500:530]),
             (news.iloc[:200], gappy), (news.iloc[:40], news.iloc[40:80])]  # fmt: skip
    for ref, cur in cases:
        auc, words = _evidentlys_text_drift(ref, cur)
        state = TextReference.fit(pd.DataFrame({"prompt": ref}))
        assert state is not None
        stored = TextReference.from_state(*state.to_state())
        assert stored.vocabulary == state.vocabulary
        for name in ("indptr", "terms", "counts"):
            assert np.array_equal(getattr(stored, name), getattr(state, name))
        for analysed in (None, stored):
            result = text_drift(ref, cur, thresholds=T, analysed=analysed)
            assert result.metric("roc_auc") == pytest.approx(auc, abs=1e-12)
            assert (result.details["words_current"], result.details["words_reference"]) == words


def _unanalysed(tokens: list[str]) -> list[str]:
    return tokens


# Evidently's analysis of a text (lower-cased, tokenised, English stop words dropped).
_ANALYSE = TfidfVectorizer(stop_words="english").build_analyzer()


@pytest.mark.parametrize("seed", range(4))
def test_text_drifts_matrices_are_the_vectorisers_to_the_last_bit(seed: int) -> None:
    """The TF-IDF matrices built from the baseline's stored counts equal those Evidently's
    vectoriser builds from the texts — values, columns and the order of each row's entries
    (on which the classifier's sums depend) — for real text, and for documents with
    repeated, unicode and numeric terms, none at all, terms in most documents (pruned by
    max_df) and window terms that sort before, between and after the baseline's."""
    rng = np.random.default_rng(seed)
    news = health_tweets(without_urls=True).sample(frac=1, random_state=seed)["text"].tolist()
    chat = chatterbot()["prompt"].sample(120, random_state=seed).tolist()
    words = ["été", "naïve", "Москва", "東京", "x2", "2024", "the", "aaa", "zzz", "mmm", "ok"]

    def made_up(n: int) -> list[str]:
        return [" ".join(rng.choice(words, rng.integers(0, 8))) for _ in range(n)]

    cases = [(news[:300], chat), (news[:500], news[500:530]), (news[:6], news[6:9]),
             (made_up(40), made_up(25)), (news[:50], made_up(30)),
             ([*made_up(10), "", "and the of"], ["", "the", *news[900:905]])]  # fmt: skip
    for ref, cur in cases:
        reference = TextReference.of(pd.Series(ref))
        window = [_ANALYSE(t) for t in cur]
        docs = [*map(_ANALYSE, ref), *window]
        order = rng.permutation(len(docs))
        train, test = order[: len(docs) // 2], order[len(docs) // 2 :]
        vectoriser = TfidfVectorizer(analyzer=_unanalysed, sublinear_tf=True, max_df=0.5)
        try:
            expected_train = vectoriser.fit_transform([docs[i] for i in train])
        except ValueError as exc:
            with pytest.raises(ValueError, match=str(exc)[:20]):
                split_counts(reference, window, train, test)
            continue
        expected_test = vectoriser.transform([docs[i] for i in test])
        x_train, x_test, names = split_counts(reference, window, train, test)
        assert names == vectoriser.get_feature_names_out().tolist()
        tfidf = TfidfTransformer(sublinear_tf=True)
        for ours, theirs in ((tfidf.fit_transform(x_train), expected_train),
                             (tfidf.transform(x_test), expected_test)):  # fmt: skip
            assert ours.shape == theirs.shape
            for part in ("indptr", "indices", "data"):
                assert np.array_equal(getattr(ours, part), getattr(theirs, part)), part


def test_a_text_state_stored_before_the_counts_reads_as_the_counts() -> None:
    """Profiles stored before the counts were hold each prompt's tokens: read, they count to
    what a fresh profile stores."""
    prompts = pd.Series(["Fever and cough, fever again", "", None, "Москва 2024 cough"])
    fresh = TextReference.of(prompts)
    analysed = [_ANALYSE(str(t or "")) for t in prompts]
    old = {"tokens": np.frombuffer("\n".join(" ".join(t) for t in analysed).encode(), np.uint8)}
    read = TextReference.from_state({"prompts": 4}, old)
    assert read.vocabulary == fresh.vocabulary == sorted({t for d in analysed for t in d})
    for name in ("indptr", "terms", "counts"):
        assert np.array_equal(getattr(read, name), getattr(fresh, name))


@pytest.mark.parametrize("seed", range(3))
def test_the_words_that_tell_the_windows_apart_are_evidentlys(seed: int) -> None:
    """Shifted and calm windows, small and large, as the domain classifier weighs them."""
    news = health_tweets(without_urls=True).sample(frac=1, random_state=seed)["text"]
    chat = chatterbot()["prompt"].sample(300, random_state=seed)
    target_sizes = [(300, chat), (500, news.iloc[500:530]), (200, news.iloc[600:900])]
    for n_ref, current in target_sizes:
        texts = pd.concat([news.iloc[:n_ref], current], ignore_index=True)
        target = np.r_[np.zeros(n_ref, int), np.ones(len(current), int)]
        _, _, pipeline = roc_auc_domain_classifier(texts, texts, target, target)
        for count in (15, 3):
            weights = pipeline["classification"].coef_[0]
            names = pipeline["vectorization"].get_feature_names_out().tolist()
            assert typical_words(weights, names, count) == tuple(
                get_typical_words(pipeline, words_num=count)
            )


@pytest.mark.parametrize("seed", range(3))
def test_a_rare_flags_p_value_is_the_exact_one_simulated_tables_estimate(seed: int) -> None:
    """A flag too rare for the chi-square approximation: its p-value is exact over the tables
    with the same margins, what scipy's Monte Carlo (R's simulate.p.value) converges to."""
    rng = np.random.default_rng(seed)
    for ref_n, cur_n, ref_rate, cur_rate in [
        (500, 30, 0.02, 0.02), (500, 30, 0.02, 0.2), (200, 200, 0.03, 0.05),
        (50, 5, 0.5, 0.5), (30, 3, 0.1, 0.9), (10_000, 8, 0.001, 0.5),
    ]:  # fmt: skip
        ref = pd.Series(rng.random(ref_n) < ref_rate)
        cur = pd.Series(rng.random(cur_n) < cur_rate)
        table = pd.crosstab(
            np.r_[np.zeros(ref_n), np.ones(cur_n)], np.r_[ref.to_numpy(), cur.to_numpy()]
        ).to_numpy()
        columns = descriptor_drift(
            pd.DataFrame({"flag": ref}), pd.DataFrame({"flag": cur}), numeric=[],
            categorical=["flag"], thresholds=T,
        ).details["columns"]  # fmt: skip
        if table.shape[1] < 2:
            assert columns[0]["p_value"] == 1.0
            continue
        simulated = stats.chi2_contingency(
            table, correction=False,
            method=stats.MonteCarloMethod(n_resamples=100_000, rng=np.random.default_rng(0)),
        ).pvalue  # fmt: skip
        error = np.sqrt(max(simulated * (1 - simulated), 1e-5) / 100_000)
        assert abs(columns[0]["p_value"] - simulated) < 4 * error + 1e-5


@pytest.mark.parametrize("seed", range(3))
def test_a_well_filled_categorys_p_value_is_scipys_chi_square(seed: int) -> None:
    """Two categories (Yates' correction), several, shifted and not, sizes alike and not."""
    rng = np.random.default_rng(seed)
    cases = [
        (rng.choice(["a", "b"], 500, p=[0.6, 0.4]), rng.choice(["a", "b"], 30)),
        (rng.choice(["a", "b"], 400, p=[0.7, 0.3]), rng.choice(["a", "b"], 400, p=[0.6, 0.4])),
        (rng.choice(list("abcd"), 600), rng.choice(list("abcd"), 120, p=[0.4, 0.2, 0.2, 0.2])),
        (rng.choice(list("abcdefgh"), 2000), rng.choice(list("abcdefgh"), 1000)),
    ]
    for reference, current in cases:
        columns = descriptor_drift(
            pd.DataFrame({"c": reference}), pd.DataFrame({"c": current}), numeric=[],
            categorical=["c"], thresholds=T,
        ).details["columns"]  # fmt: skip
        cats = sorted(set(reference) | set(current))
        table = np.array([[np.sum(side == c) for c in cats] for side in (reference, current)])
        assert stats.contingency.expected_freq(table).min() >= 5
        assert columns[0]["p_value"] == pytest.approx(
            stats.chi2_contingency(table).pvalue, rel=1e-9
        )


def test_a_sparse_categorys_simulated_p_value_holds_its_level_and_fires() -> None:
    """Many categories, most rare, in 30-event windows (the chi-square approximation does not
    hold): the sequential simulated p-value holds its level under the null (at most the
    level, with the binomial margin of 400 windows) and is small for a shifted window."""
    rng = np.random.default_rng(7)
    languages = ["en", "es", "pcm", "la", "lb", "sn", "da"]
    shares = [0.86, 0.05, 0.04, 0.02, 0.01, 0.01, 0.01]
    reference = pd.DataFrame({"language": rng.choice(languages, 500, p=shares)})

    def p_value(window: np.ndarray) -> float:
        columns = descriptor_drift(
            reference, pd.DataFrame({"language": window}), numeric=[],
            categorical=["language"], thresholds=T,
        ).details["columns"]  # fmt: skip
        return float(columns[0]["p_value"])

    null = np.array([p_value(rng.choice(languages, 30, p=shares)) for _ in range(400)])
    for level in (0.01, 0.05, 0.2, 0.5):
        margin = 3 * np.sqrt(level * (1 - level) / len(null))
        assert (null <= level).mean() <= level + margin, level
    shifted = rng.choice(languages, 30, p=[0.5, 0.05, 0.04, 0.02, 0.01, 0.01, 0.37])
    assert p_value(shifted) < 0.001


@pytest.mark.parametrize("seed", range(4))
def test_the_jensen_shannon_distance_is_evidentlys(seed: int) -> None:
    """For descriptors and for class distributions: categories on one side only, one
    category, many rare ones, numbers as categories, a window of one event."""
    rng = np.random.default_rng(seed)
    many = [f"c{i}" for i in range(60)]
    cases = [
        (rng.choice(["en", "es", "fr"], 500, p=[0.8, 0.15, 0.05]), rng.choice(["en", "de"], 30)),
        (np.full(200, "stop"), rng.choice(["stop", "length"], 40)),
        (rng.choice(many, 1000), rng.choice([*many[:20], "new"], 300)),
        (rng.integers(0, 4, 300), rng.integers(2, 7, 50)),
        (rng.choice(["a", "b"], 100), np.array(["b"])),
        (np.full(50, "same"), np.full(10, "same")),
    ]
    for reference, current in cases:
        ref, cur = pd.Series(reference).astype(str), pd.Series(current).astype(str)
        evidently = jensenshannon_stat_test(ref, cur, ColumnType.Categorical, 0.1).drift_score
        columns = descriptor_drift(
            pd.DataFrame({"c": ref}), pd.DataFrame({"c": cur}), numeric=[], categorical=["c"],
            thresholds=T,
        ).details["columns"]  # fmt: skip
        assert columns[0]["score"] == pytest.approx(evidently, rel=1e-9, abs=1e-12)
        classes = distribution_drift(ref, cur, check="prediction_drift", thresholds=T, min_events=1)
        assert classes.metric("js_distance") == pytest.approx(evidently, rel=1e-9, abs=1e-12)
