"""Every statistical decision can fire, and none cries wolf against a finite baseline.

For each decision: a case where it must fire (its p-value reaching below the alpha it is
compared with after correction, not merely "close"), and a calibration case where windows
drawn from the same population as a finite baseline — smaller than the pooled window — fire
at most at their nominal rate. The calibration runs with the effect-size floors at zero, so
that it measures the null distribution itself, which the floors would otherwise hide.
"""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from app.datasets import chatterbot, health_tweets
from app.engine.estimated import Calibration, estimated_quality_check
from app.engine.longtail import exceedance_p
from app.engine.perplexity import perplexity_check
from app.engine.quality import classification_metrics, quality_check
from app.engine.results import CheckResult, Status
from app.engine.thresholds import Thresholds
from app.engine.window import BaselineProfile, evaluate_window

T = Thresholds()
SHARES = {"a": 0.32, "b": 0.32, "c": 0.31, "minor": 0.05}


def traffic(
    n: int, rng: np.random.Generator, *, collapse: float = 0.0, noise: float = 0.0
) -> pd.DataFrame:
    """A four-class model (one class rare), right with probability confidence**1.2; a
    ``collapse`` share of the rare class's right answers turn wrong; ``noise`` relabels."""
    classes = list(SHARES)
    label = rng.choice(classes, n, p=list(SHARES.values()))
    conf = rng.beta(6, 2, n)
    right = rng.random(n) < conf**1.2
    wrong = rng.choice(classes, n)
    prediction = np.where(right, label, np.where(wrong == label, "a", wrong))
    lost = (label == "minor") & (prediction == "minor") & (rng.random(n) < collapse)
    prediction[lost] = "b"
    flip = rng.random(n) < noise
    relabel = rng.choice(classes, n)
    label = np.where(flip, np.where(relabel == label, "b", relabel), label)
    return pd.DataFrame({"prediction": prediction, "label": label, "confidence": conf})


def fires(result: CheckResult) -> bool:
    return result.status in (Status.DEGRADED, Status.DRIFT, Status.WARNING)


def p_values_below_alpha(result: CheckResult) -> dict[str, bool]:
    """Each p-value metric with its alpha: whether it reached below."""
    return {
        f"{m.name}[{m.feature}]": m.value < m.threshold
        for m in result.metrics
        if "p_value" in m.name and m.threshold is not None and m.value is not None
    }


def test_a_minority_class_collapsing_is_degraded_while_accuracy_holds() -> None:
    rng = np.random.default_rng(1)
    base = traffic(4000, rng)
    window = traffic(1000, np.random.default_rng(11), collapse=0.5)
    unchanged = traffic(1000, np.random.default_rng(11))  # the same events before
    accuracy = classification_metrics(window["prediction"], window["label"])["accuracy"]
    before = classification_metrics(unchanged["prediction"], unchanged["label"])["accuracy"]
    assert before - accuracy < 0.02  # accuracy barely moves
    result = quality_check(base, window, thresholds=T)
    assert result.status is Status.DEGRADED, result.summary
    assert "recall of class 'minor'" in result.summary
    assert result.metric("class_recall_p_value", "minor") < 0.01 / 3
    calm = quality_check(base, traffic(1000, rng), thresholds=T)
    assert calm.status is Status.OK, calm.summary


def test_twenty_percent_label_noise_is_degraded() -> None:
    rng = np.random.default_rng(2)
    base = traffic(4000, rng)
    result = quality_check(base, traffic(1000, rng, noise=0.2), thresholds=T)
    assert result.status is Status.DEGRADED
    assert "accuracy" in result.summary


def test_macro_f1_p_value_reaches_below_its_alpha_with_a_pooled_sample() -> None:
    """With a pooled sample the alpha is split four ways (0.01 / 6 here); a resampled
    p-value over 200 rounds could never go below 1/201 — the F1 test could never fire."""
    rng = np.random.default_rng(3)
    base = traffic(4000, rng)
    window, recent = traffic(1000, rng, collapse=1.0), traffic(2000, rng, collapse=1.0)
    result = quality_check(base, window, recent=recent, thresholds=T)
    reached = p_values_below_alpha(result)
    assert reached["f1_p_value_pooled[None]"] and reached["f1_p_value[None]"], reached
    assert result.metric("f1_p_value_pooled") < 1 / 201


@pytest.mark.parametrize(
    "check",
    [
        lambda base, w, recent: quality_check(base, w, recent=recent, thresholds=T),
        lambda base, w, recent: estimated_quality_check(
            Calibration.fit(base), w, recent=recent, thresholds=T
        ),
    ],
    ids=["quality", "estimated_quality"],
)
def test_every_p_value_of_a_check_can_reach_its_alpha(check) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(4)
    base = traffic(4000, rng)

    def bad(n: int) -> pd.DataFrame:
        w = traffic(n, rng, collapse=1.0, noise=0.3)
        w["confidence"] = w["confidence"] * 0.6  # confidence falls too
        return w

    result = check(base, bad(1000), bad(2000))
    reached = p_values_below_alpha(result)
    assert reached and all(reached.values()), reached


def test_perplexity_rise_fires_by_a_two_sample_test() -> None:
    rng = np.random.default_rng(5)
    base = pd.Series(rng.lognormal(1.0, 0.5, 2000))
    up = perplexity_check(base, pd.Series(rng.lognormal(1.3, 0.5, 500)), thresholds=T)
    same = perplexity_check(base, pd.Series(rng.lognormal(1.0, 0.5, 500)), thresholds=T)
    assert up.status is Status.DEGRADED and up.metric("p_value") < 0.01
    assert same.status is Status.OK


def test_unshifted_windows_against_a_small_baseline_fire_at_most_at_the_nominal_rate() -> None:
    """A 1,500-record baseline and 600-event windows pooled over three (1,800 events, more
    than the baseline): treating the baseline as the population made the pooled spread ~1.5x
    too narrow and 3 of 12 unshifted windows alarm. Fresh baseline per trial, as the null is
    over both samples; effect floors off so only the p-values decide."""
    alpha = 0.05
    t = T.with_overrides(
        {
            "estimate_alpha": alpha,
            "quality_alpha": alpha,
            "estimated_drop": 0.0,
            "quality_drop": 0.0,
            "class_recall_drop": 0.0,
        }
    )
    trials, alarms = 80, {"quality": 0, "quality_5pct_labels": 0, "estimated_quality": 0}
    z_scores: dict[str, list[float]] = {
        "accuracy_p_value_pooled": [], "f1_p_value_pooled": [],
        "estimated_accuracy_pooled_p_value": [], "estimated_f1_pooled_p_value": [],
    }  # fmt: skip
    for trial in range(trials):
        rng = np.random.default_rng(1000 + trial)
        base = traffic(1500, rng)
        windows = [traffic(600, rng) for _ in range(3)]
        recent = pd.concat(windows[:2], ignore_index=True)
        sparse = [w.assign(label=w["label"].where(rng.random(600) < 0.05)) for w in windows]
        results = {
            "quality": quality_check(base, windows[2], recent=recent, thresholds=t, seed=trial),
            "quality_5pct_labels": quality_check(
                base, sparse[2], recent=pd.concat(sparse[:2]), thresholds=t, seed=trial
            ),
            "estimated_quality": estimated_quality_check(
                Calibration.fit(base), windows[2].drop(columns="label"),
                recent=recent.drop(columns="label"), thresholds=t, seed=trial,
            ),
        }  # fmt: skip
        for name, result in results.items():
            alarms[name] += result.status is Status.DEGRADED
        for metric, values in z_scores.items():
            source = results["estimated_quality" if "estimated" in metric else "quality"]
            values.append(float(stats.norm.isf(source.metric(metric))))
    # Nominal 5 % of 80 is 4; 9 is above the binomial's 99th percentile.
    assert all(count <= 9 for count in alarms.values()), alarms
    # Sharper: each pooled test's z-score must be standard normal under the null. Taking the
    # baseline as the population made the estimated-quality spread 1.5x too wide.
    for metric, values in z_scores.items():
        assert 0.75 < np.std(values) < 1.3 and abs(np.mean(values)) < 0.45, (metric, values)


def _profile_and_pools() -> tuple[BaselineProfile, pd.DataFrame, pd.DataFrame]:
    tweets = health_tweets(without_urls=True).sample(frac=1, random_state=0)
    frame = tweets.rename(columns={"text": "prompt"}).assign(output="ok")[["prompt", "output"]]
    chat = chatterbot().assign(output="ok")[["prompt", "output"]]
    return BaselineProfile.build(frame.iloc[:3000]), frame.iloc[3000:], chat


def test_the_novel_share_rises_with_new_traffic_and_stays_flat_without() -> None:
    """Real text: chatbot questions reaching a health-news model (a domain it never saw)."""
    profile, pool, chat = _profile_and_pools()
    rng = np.random.default_rng(6)
    shares: dict[float, list[float]] = {0.0: [], 0.3: []}
    for share, runs in shares.items():
        for i in range(3):
            new = round(800 * share)
            window = pd.concat(
                [
                    pool.sample(800 - new, random_state=int(rng.integers(1e9))),
                    chat.sample(new, random_state=int(rng.integers(1e9)), replace=True),
                ],
                ignore_index=True,
            ).assign(request_id=lambda f: [f"r{j}" for j in range(len(f))])
            result = evaluate_window(profile, window, with_text_drift=False, seed=i)
            runs.append(result.checks["long_tail"].metric("novel_share"))
            if share:
                assert result.checks["long_tail"].status is Status.WARNING
                novel_ids = {x["id"] for x in result.checks["long_tail"].details["top_novel"]}
                chat_ids = {f"r{j}" for j in range(800 - new, 800)}
                assert len(novel_ids & chat_ids) >= 0.8 * len(novel_ids)
    calm, shifted = np.mean(shares[0.0]), np.mean(shares[0.3])
    assert calm < 0.025 and shifted > 4 * calm, shares


def test_a_tiny_templated_baseline_is_profiled_and_its_windows_judged() -> None:
    """120 records of one template: too little text for the TF-IDF embedding. The baseline
    must still be usable; the embedding checks say why they cannot run."""
    rng = np.random.default_rng(7)
    records = pd.DataFrame(
        {
            "prompt": [f"What is the status of order {i}?" for i in range(120)],
            "output": ["Your order has shipped."] * 120,
            "prediction": rng.choice(["shipped", "late"], 120),
            "label": rng.choice(["shipped", "late"], 120),
        }
    )
    profile = BaselineProfile.build(records)
    window = records.sample(120, replace=True, random_state=1).reset_index(drop=True)
    result = evaluate_window(profile, window)
    assert result.status is not Status.INSUFFICIENT_DATA
    for name in ("embedding_drift", "long_tail"):
        check = result.checks[name]
        assert check.status in (Status.NOT_APPLICABLE, Status.OK), (name, check.summary)
    assert result.checks["quality"].status is Status.OK


@pytest.mark.parametrize(("n_reference", "n_window"), [(100, 120), (1000, 400)])
def test_the_novel_share_test_holds_its_alpha_on_a_small_baseline_and_fires_on_a_tail(
    n_reference: int, n_window: int
) -> None:
    """The long-tail decision on scores with a known truth: exchangeable (calm) or with a
    share of the window far out (new traffic). The threshold is the baseline's own 99th
    percentile, so its share is fixed by construction and the test must account for that."""
    rng = np.random.default_rng(11)

    def fires(ref: np.ndarray, win: np.ndarray) -> bool:
        threshold = np.quantile(ref, 0.99)
        above, hits = int((ref > threshold).sum()), int((win > threshold).sum())
        rate = max(above / len(ref), 1e-3)
        share = hits / len(win)
        p = exceedance_p(len(ref), above, len(win), hits)
        return share >= T.longtail_multiple * rate and p < T.longtail_alpha

    calm = [fires(rng.normal(size=n_reference), rng.normal(size=n_window)) for _ in range(4000)]
    assert np.mean(calm) <= 0.015, np.mean(calm)
    tail = [
        fires(
            rng.normal(size=n_reference),
            np.r_[rng.normal(size=n_window - n_window // 10), rng.normal(4, 1, n_window // 10)],
        )
        for _ in range(200)
    ]
    assert np.mean(tail) >= 0.9, np.mean(tail)
