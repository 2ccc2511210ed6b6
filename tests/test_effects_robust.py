"""Cluster-robust SEs, effect-size intervals that carry the uncertainty of reward_std, the sensitivity
analysis, the bootstrap's refusals and the data checks of treatment_effects.py (issue #13), by exact
computation and in seeded Monte Carlo studies over (replicates, n) arrays."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from estimation import bootstrap as eb
from estimation import contrasts
from estimation import inputs as effects_inputs
from estimation import results as te
from estimation import robust
from estimation import sensitivity
from estimation import stats as es
import utils

KEYS = {"original": "original", "rewrite": "rewrite", "rewritten rewrite": "rewritten rewrite"}


def covered(effect: es.Effect, truth: float) -> np.ndarray:
    low, high, _ = es.t_interval(effect, 0.05)
    return (low <= truth) & (truth <= high)


def rewards(rng, shape, w, tau, c, noise):
    """R(original), R(rewrite), R(rewritten rewrite) of the additive model: the rewriter keeps the
    content c and adds its own noise; tau may vary per example."""
    y = tau * w + c + noise(shape)
    r = tau * ~w + c + noise(shape)
    rr = tau * w + c + noise(shape)
    return y, r, rr


def data_set(seed: int, n: int, p: float, tau: float, noise_sd: float):
    """One data set of the additive model: (w, y, r, rr)."""
    rng = np.random.default_rng(seed)
    w = rng.random(n) < p
    return (w, *rewards(rng, n, w, tau, rng.normal(0, 1, n), lambda s: rng.normal(0, noise_sd, s)))


# --- clusters -----------------------------------------------------------------------------------

def test_singleton_clusters_give_todays_ses_and_dfs_exactly():
    n = 257
    w, y, r, rr = data_set(0, n, 0.4, 1.0, 0.5)
    plain = es.compute(w, y, r, rr)
    clusters = robust.from_labels([f"id-{i}" for i in range(n)])
    assert clusters.trivial
    influences = es.influences(w, {"naive": y, "single rewrite": es.oriented(w, y, r),
                                   "RATE": es.oriented(w, rr, r)})
    for key, effect in plain["effects"].items():
        # CR1 over singletons, computed explicitly, equals the iid SE to rounding
        psi, mask = influences[key]
        variance, count = robust.cr1(psi, clusters, mask)
        if key[0] == "naive":
            continue  # naive keeps Welch when nothing is clustered; CR1 is only its clustered form
        assert np.sqrt(variance) == pytest.approx(effect.se, rel=1e-12)
        assert count - 1 == effect.df
    again = es.compute(w, y, r, rr, clusters=clusters)
    assert all(again["effects"][k] == v for k, v in plain["effects"].items())
    assert again["clusters"] is None


def test_cr1_by_hand_for_a_mean_of_three_clusters():
    # d = [1, 3 | 2 | 4, 6, 2]: mean 3; cluster sums of d - 3: [-2, -1, 3]; CR1 = 3/2 * 14 / 36
    d = np.array([1.0, 3, 2, 4, 6, 2])
    clusters = robust.from_labels(["a", "a", "b", "c", "c", "c"])
    _, psi = robust.mean_influence(d, np.ones(6, bool))
    variance, count = robust.cr1(psi, clusters)
    assert (float(variance), int(count)) == (pytest.approx(1.5 * 14 / 36), 3)


def simulate_clusters(seed: int, per_cluster: int, replicates: int = 2000, groups: int = 300):
    """Treatment effects that share a cluster component: the intra-cluster correlation of RATE's
    per-example differences is 0.5 (cluster sd 1, example sd 1 including the rewrites' noise)."""
    rng = np.random.default_rng(seed)
    n = groups * per_cluster
    codes = np.repeat(np.arange(groups), per_cluster)
    shape = (replicates, n)
    w = rng.random(shape) < 0.4
    tau = 1.0 + rng.normal(0, 1, (replicates, groups))[:, codes] + rng.normal(0, np.sqrt(0.5), shape)
    c = rng.normal(0, 1, (replicates, groups))[:, codes] + rng.normal(0, 1, shape)
    y, r, rr = rewards(rng, shape, w, tau, c, lambda s: rng.normal(0, 0.5, s))
    return w, y, r, rr, robust.Clusters(codes, groups)


@pytest.mark.slow
@pytest.mark.parametrize("per_cluster", [2, 5])
def test_cluster_robust_intervals_cover_where_iid_ones_do_not(per_cluster):
    w, y, r, rr, clusters = simulate_clusters(per_cluster, per_cluster)
    robust_run = es.compute(w, y, r, rr, clusters=clusters)
    iid_run = es.compute(w, y, r, rr)
    for estimand in ("ATE", "ATT", "ATU"):
        coverage = covered(robust_run["effects"][("RATE", estimand)], 1.0).mean()
        assert 0.93 <= coverage <= 0.97, (estimand, coverage)
        assert (robust_run["effects"][("RATE", estimand)].df == clusters.count - 1).all() or estimand != "ATE"
    iid_coverage = covered(iid_run["effects"][("RATE", "ATE")], 1.0).mean()
    # 2 per cluster: design effect 1.5; 5 per cluster: 3 (about 82 % coverage here)
    assert iid_coverage < (0.93 if per_cluster == 2 else 0.87), iid_coverage


def kept_arrays(questions: list, clusters: list) -> dict:
    """The arrays phase 3 forms clusters from, of records with these reward questions and clusters."""
    records = [{"id": f"e{i}", "w_original": i % 2 == 0, "reward_question": question,
                **({"cluster": cluster} if cluster is not None else {}),
                "m": {"original": 1.0, "rewrite": 0.0, "rewritten rewrite": 1.0}}
               for i, (question, cluster) in enumerate(zip(questions, clusters))]
    return effects_inputs.reward_arrays(records, "m", KEYS)[0]


def test_a_fixed_prompt_is_not_a_cluster_but_shared_questions_are():
    arrays = kept_arrays(["Write a review:"] * 8 + ["q1", "q1"], [None] * 10)
    labels, how = effects_inputs.cluster_labels(arrays, "auto", "f.jsonl")
    assert len(set(labels)) == 9 and labels[8] == labels[9] and how["fixed_prompt"] == "Write a review:"
    assert effects_inputs.cluster_labels(arrays, "none", "f.jsonl")[0] is None
    assert len(set(effects_inputs.cluster_labels(arrays, "question", "f.jsonl")[0])) == 2
    arrays = kept_arrays(["Write a review:"] * 8 + ["q1", "q1"], ["a", "a"] + [None] * 8)
    labels, how = effects_inputs.cluster_labels(arrays, "auto", "f.jsonl")
    assert len(set(labels)) == 9 and labels[0] == labels[1] and "field" in how["rule"]
    with pytest.raises(utils.RateError, match="8 examples have no 'cluster' field, the first 'e2'"):
        effects_inputs.cluster_labels(arrays, "cluster", "f.jsonl")
    # values that print alike are one cluster, as their labels were when labels were text
    labels, _ = effects_inputs.cluster_labels(kept_arrays(["q"] * 4, [1, "1", 2, None]), "auto",
                                              "f.jsonl")
    assert labels[0] == labels[1] and len(set(labels)) == 3


# --- effect sizes ---------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("n", [300, 5000])
@pytest.mark.parametrize("theta", [0.5, 5.0])
@pytest.mark.parametrize("tails", ["normal", "t3"])
def test_effect_size_intervals_cover_the_population_effect_size(n, theta, tails):
    """The population effect size tau/sigma, sigma the within-group sd of R(original) (content sd 1,
    the original's own noise sd 0.5). 'errors': the rewrites' reward noise, normal or Student t with
    3 df (heavy tails, finite variance). Dividing the raw interval by the sd instead covers 17-29 % at
    effect size 5 (measured in a run of this design)."""
    rng = np.random.default_rng(int(theta * 10) + n + (tails == "t3"))
    replicates = 1000
    shape = (replicates, n)
    sigma = np.sqrt(1 + 0.25)
    w = rng.random(shape) < 0.4

    def noise(s):
        return 0.5 * rng.standard_t(3, s) / np.sqrt(3) if tails == "t3" else rng.normal(0, 0.5, s)

    c = rng.normal(0, 1, shape)
    y = theta * sigma * w + c + rng.normal(0, 0.5, shape)
    r = theta * sigma * ~w + c + noise(shape)
    rr = theta * sigma * w + c + noise(shape)
    computed = es.compute(w, y, r, rr)
    for key in (("RATE", "ATE"), ("RATE", "ATT"), ("RATE", "ATU"), ("naive", "ATE")):
        coverage = covered(computed["norm"][key], theta).mean()
        assert 0.93 <= coverage <= 0.97, (key, coverage)
    if theta == 5.0:
        effect = computed["effects"][("RATE", "ATE")]
        low, high, _ = es.t_interval(effect, 0.05)
        naive_coverage = ((low / computed["reward_std"] <= theta) & (theta <= high / computed["reward_std"])).mean()
        assert naive_coverage < 0.5, naive_coverage


def test_the_delta_method_se_agrees_with_the_jackknife():
    n = 400
    w, y, r, rr = data_set(5, n, 0.5, 2.0, 0.4)
    computed = es.compute(w, y, r, rr)
    theta = computed["norm"][("RATE", "ATE")]
    leave_one_out = []
    for i in range(n):
        keep = np.arange(n) != i
        d = es.oriented(w[keep], rr[keep], r[keep])
        leave_one_out.append(d.mean() / es.pooled_sd(es.group_moments(y[keep], w[keep])))
    leave_one_out = np.array(leave_one_out)
    jackknife = np.sqrt((n - 1) / n * np.sum(np.square(leave_one_out - leave_one_out.mean())))
    assert float(theta.se) == pytest.approx(jackknife, rel=0.03)


def test_the_effect_size_interval_holds_0_whenever_the_raw_one_does():
    """At theta = 0 the delta method is the raw SE over the sd; the SE never drops below that, so on
    small samples, where the covariance term is noisy, the two intervals never disagree about 0."""
    disagreements, shrunk = 0, 0
    for seed in range(300):
        w, y, r, rr = data_set(seed, 11, 0.5, 0.2, 0.5)
        if w.sum() < 2 or (~w).sum() < 2:
            continue
        computed = es.compute(w, y, r, rr)
        for key in (("RATE", "ATE"), ("RATE", "ATT"), ("RATE", "ATU"), ("naive", "ATE")):
            raw, norm = computed["effects"][key], computed["norm"][key]
            low, high, _ = es.t_interval(raw, 0.05)
            norm_low, norm_high, _ = es.t_interval(norm, 0.05)
            disagreements += bool((low <= 0 <= high) != (norm_low <= 0 <= norm_high)) and bool(low <= 0 <= high)
            shrunk += bool(norm.se < raw.se / computed["reward_std"] - 1e-15)
    assert disagreements == 0 and shrunk == 0


def test_heavy_tailed_originals_are_flagged(caplog):
    rng = np.random.default_rng(2)
    n = 3000
    w = rng.random(n) < 0.5
    c = rng.standard_t(3, n)
    arrays = {"w": w, "original": c + w, "rewrite": c + ~w, "rewritten rewrite": c + w}
    results = te.estimate(arrays, 0.05)
    assert results["reward_kurtosis"] > te.KURTOSIS_WARNING
    assert "heavy-tailed" in caplog.text


# --- sensitivity ------------------------------------------------------------------------------------

def test_breakdown_delta_is_where_the_shifted_interval_reaches_zero():
    rows = [{"estimator": "RATE", "estimand": "ATE", "estimate": 1.0, "se": 0.2, "ci_low": 0.6, "ci_high": 1.4},
            {"estimator": "RATE", "estimand": "ATT", "estimate": -1.0, "se": 0.2, "ci_low": -1.4, "ci_high": -0.6},
            {"estimator": "RATE", "estimand": "ATU", "estimate": 0.1, "se": 0.2, "ci_low": -0.3, "ci_high": 0.5}]
    result = sensitivity.analyse(rows, 2.0, [0.0, 0.6, -0.6])
    assert [r["breakdown_delta"] for r in rows] == [0.6, -0.6, 0.0]
    assert [r["norm_breakdown_delta"] for r in rows] == [0.3, -0.3, 0.0]
    ate = result["shifted"]["ATE"]
    assert [s["side"] for s in ate] == ["above 0", "holds 0", "above 0"]
    assert ate[1]["ci_low"] == pytest.approx(0.0) and ate[2]["estimate"] == pytest.approx(1.6)
    grid = sensitivity.analyse(rows, 2.0, None)["deltas"]
    assert len(grid) == sensitivity.GRID_POINTS and grid[0] == -grid[-1] and max(grid) >= 2 * 0.6


def test_the_sensitivity_analysis_recovers_the_truth_at_the_true_delta():
    """With an asymmetric rewriter (Delta = 0.4) RATE misses the truth; shifting by the true Delta
    restores 95 % coverage, as the bias is exactly additive."""
    rng = np.random.default_rng(9)
    shape = (2000, 500)
    w = rng.random(shape) < 0.5
    c = rng.normal(0, 1, shape)
    y = 1.0 * w + c
    style_r = np.where(w, -0.5, -0.1) + rng.normal(0, 0.3, shape)  # Re(., 0) leaves -0.5, Re(., 1) -0.1
    style_rr = np.where(w, -0.1, -0.5) + rng.normal(0, 0.3, shape)
    r, rr = 1.0 * ~w + c + style_r, 1.0 * w + c + style_rr
    effect = es.compute(w, y, r, rr)["effects"][("RATE", "ATE")]
    low, high, _ = es.t_interval(effect, 0.05)
    assert ((low <= 1) & (1 <= high)).mean() < 0.05
    shifted = ((low - 0.4 <= 1) & (1 <= high - 0.4)).mean()
    assert 0.93 <= shifted <= 0.97


# --- bootstrap --------------------------------------------------------------------------------------

@pytest.mark.parametrize("n1", [2, 3])
def test_the_bootstrap_refuses_tiny_groups_with_a_reason(n1):
    rng = np.random.default_rng(n1)
    w = np.array([True] * n1 + [False] * 40)
    y = rng.normal(0, 1, w.size)
    r, rr = y + rng.normal(0, 0.1, w.size), y + rng.normal(0, 0.1, w.size)
    results = te.estimate({"w": w, "original": y, "rewrite": r, "rewritten rewrite": rr}, 0.05, 400, 0)
    refused = results["bootstrap"]["refused"]
    assert set(refused) == {f"{e} {k}" for e in ("naive", "single rewrite", "RATE") for k in ("ATE", "ATT", "ATU")
                            if not (e != "naive" and k == "ATU")}
    assert all(f"W=1 has {n1} examples" in reason for reason in refused.values())
    rows = {(row["estimator"], row["estimand"]): row for row in results["estimates"]}
    assert rows[("RATE", "ATT")]["boot_ci_low"] is None and rows[("RATE", "ATU")]["boot_ci_low"] is not None


def test_a_resample_with_a_rounding_noise_se_refuses_the_interval():
    # Six W=1 examples of which five are equal: some resamples draw only equal differences
    w = np.array([True] * 6 + [False] * 30)
    rng = np.random.default_rng(1)
    y = rng.normal(0, 1, w.size)
    r = y.copy()
    rr = y + np.where(w, 1.0, rng.normal(0, 1, w.size))
    rr[0] += 1e-9
    boot = eb.bootstrap_intervals(w, y, r, rr, 0.05, 2000, seed=0)
    assert "below 1e-06 of the full sample's" in boot["refused"][("RATE", "ATT")]
    assert ("RATE", "ATT") not in boot["intervals"]


# --- data checks ------------------------------------------------------------------------------------

def record(identifier, w, y=1.0):
    return {"id": identifier, "w_original": w, "m": {"original": y, "rewrite": y - 1, "rewritten rewrite": y}}


def test_a_duplicate_id_is_an_error_or_is_kept_once():
    records = [record("a", True), record("b", False), record("a", True), record("c", False)]
    with pytest.raises(utils.RateError, match=r"f.jsonl: example id 'a' appears twice \(records 1 and 3\)"):
        effects_inputs.reward_arrays(records, "m", KEYS, source="f.jsonl")
    arrays, dropped, by_group = effects_inputs.reward_arrays(records, "m", KEYS, duplicate_ids="keep_first")
    assert arrays["ids"] == ["a", "b", "c"] and dropped == {"duplicate id": 1} and by_group == {"duplicate id": {"W=1": 1}}


def test_an_outlier_in_one_group_leaves_the_other_groups_variance_exact():
    rng = np.random.default_rng(3)
    w = np.array([True] * 50 + [False] * 50)
    values = rng.normal(0.3, 0.01, 100)
    values[0] = 1e9
    moments = es.group_moments(values, w)
    assert float(moments.var0) == pytest.approx(np.var(values[50:], ddof=1), rel=1e-12)
    assert float(moments.mean0) == pytest.approx(np.mean(values[50:]), rel=1e-14)


def test_rewards_too_large_to_square_are_refused_with_the_reason():
    w = np.array([True, True, False, False])
    big = np.array([1e160, 2e160, 3e160, 1e160])
    with pytest.raises(utils.RateError, match="overflow when squared.*divide the reward by a constant"):
        te.estimate({"w": w, "original": big, "rewrite": big, "rewritten rewrite": big}, 0.05)


# --- paired contrasts -------------------------------------------------------------------------------

@pytest.mark.slow
def test_the_paired_contrast_has_power_where_combining_the_two_ses_has_none():
    """Two reward models that see the same rewrites and differ by 3 % in their effect: the paired
    contrast finds it in most replicates; the interval from the two reported SEs, as if independent,
    almost never does."""
    rng = np.random.default_rng(4)
    replicates, n = 400, 2000
    paired_hits = unpaired_hits = 0
    for _ in range(replicates):
        w = rng.random(n) < 0.5
        c = rng.normal(0, 1, n)
        noise = [rng.normal(0, 1.0, n) for _ in range(3)]  # the texts' own reward, shared by both models
        arrays = []
        for tau, jitter in ((1.0, 0.25), (0.97, 0.25)):
            y, r, rr = (t * w_ + c + e + rng.normal(0, jitter, n) for t, w_, e in
                        ((tau, w, noise[0]), (tau, ~w, noise[1]), (tau, w, noise[2])))
            arrays.append({"ids": list(range(n)), "w": w, "original": y, "rewrite": r, "rewritten rewrite": rr,
                           "labels": None})
        (ate, *_) = contrasts.paired(arrays[0], arrays[1], 0.05)
        paired_hits += ate["ci_low"] > 0
        ses = [es.compute(a["w"], a["original"], a["rewrite"], a["rewritten rewrite"])["effects"][("RATE", "ATE")].se
               for a in arrays]
        z = ate["estimate"] / np.sqrt(ses[0] ** 2 + ses[1] ** 2)
        unpaired_hits += z > stats.norm.ppf(0.975)
    assert paired_hits / replicates > 0.6 and unpaired_hits / replicates < 0.15, (paired_hits, unpaired_hits)


@pytest.mark.parametrize("labels", [[5, 5, 0, 9, 0, 2], list(range(7)), [3], [0, 10 ** 6], [-1, 4, -1]])
def test_integer_labels_get_the_codes_of_a_sort(labels):
    # small non-negative integers are numbered through a table, any others by np.unique: the same codes
    clusters = robust.from_labels(np.array(labels))
    _, expected = np.unique(np.array(labels), return_inverse=True)
    assert clusters.codes.tolist() == expected.tolist() and clusters.count == len(set(labels))
