"""Standard errors that hold when examples are not independent, and effect sizes whose intervals carry
the uncertainty of the sd they divide by. Pure numpy: no I/O, no config.

Every estimator of estimation/stats.py is, to first order, a sum of per-example contributions psi_i
(its influence, centred so that the psi sum to 0): estimate - truth ~ sum_i psi_i. Two consequences:

Clusters. When examples of one cluster (the answers to one ELI5 question, the two replies of one HH
dialogue) are correlated, the variance of that sum is the variance of its cluster totals. CR1, the
cluster-robust variance with the usual small-sample factor, is
    V = G/(G - 1) * sum_g (sum_{i in g} psi_i)^2,
with G the clusters that hold an example the estimator averages over (all of them for ATE and naive,
those with a W=1 example for ATT, with a W=0 example for ATU), and the interval is Student t with
G - 1 degrees of freedom. With every cluster a singleton this is exactly the iid SE of stats.py:
G/(G-1) * sum psi_i^2 = s^2/n for a mean.

Effect sizes. theta = tau / sigma, sigma the pooled within-group sd of R(original). By the delta method,
    Var(theta_hat) = (Var(tau_hat) - 2 theta Cov(tau_hat, sigma_hat) + theta^2 Var(sigma_hat)) / sigma^2,
with Var(sigma_hat) and the covariance from the influence of sigma_hat, psi_sigma_i = (e_i^2 - SS/n)/(2 sigma n)
(e_i: the original's reward minus its group's mean, SS = sum e_i^2), summed over clusters as above with
the factor of all G clusters. Dividing the raw interval by sigma_hat instead treats sigma as known and
is far too narrow for large effects: Var(sigma_hat)/sigma^2 ~ (kurtosis - 1)/(4n), which theta^2 multiplies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Clusters:
    """Integer cluster codes 0..count-1 per example (the last axis; one layout shared by any leading
    replicate axes) and whether every cluster is a single example."""

    codes: np.ndarray
    count: int

    @property
    def trivial(self) -> bool:
        return self.count == self.codes.shape[-1]

    def largest(self) -> int:
        return int(np.bincount(self.codes, minlength=self.count).max()) if self.count else 0


def from_labels(labels) -> Clusters:
    """Clusters from one label per example (any hashable values)."""
    labels = np.asarray(labels).reshape(-1)
    if labels.dtype.kind in "iu" and labels.size and 0 <= labels.min() and labels.max() < 4 * labels.size:
        # small non-negative integers (estimation/inputs.cluster_labels): np.unique's codes, numbered
        # through a table of the labels used instead of a sort, which needs copies of the whole column
        used = np.zeros(int(labels.max()) + 1, dtype=bool)
        used[labels] = True
        codes = (np.cumsum(used) - 1)[labels]
    else:  # any other labels compare as text
        _, codes = np.unique(labels if labels.dtype.kind in "iu" else labels.astype(object).astype(str),
                             return_inverse=True)
        codes = codes.reshape(-1)
    return Clusters(codes, int(codes.max()) + 1 if codes.size else 0)


def singletons(n: int) -> Clusters:
    return Clusters(np.arange(n), n)


def cluster_sums(values: np.ndarray, clusters: Clusters) -> np.ndarray:
    """sum over the examples of each cluster, along the last axis: shape (..., G)."""
    values = np.asarray(values, dtype=float)
    if clusters.trivial:
        # one example per cluster: the sums are the values (in another order, which no caller sees,
        # as every caller sums over the clusters)
        return values
    flat = values.reshape(-1, values.shape[-1])
    rows = flat.shape[0]
    # one bincount over all replicates: replicate b's cluster g lands in slot b*G + g
    slots = (clusters.codes[None, :] + clusters.count * np.arange(rows)[:, None]).ravel()
    sums = np.bincount(slots, weights=flat.ravel(), minlength=rows * clusters.count)
    return sums.reshape(values.shape[:-1] + (clusters.count,))


def present(mask: np.ndarray, clusters: Clusters) -> np.ndarray:
    """How many clusters hold at least one example where `mask` is true."""
    return (cluster_sums(mask.astype(float), clusters) > 0).sum(axis=-1)


def cr1(psi: np.ndarray, clusters: Clusters, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(CR1 variance of sum psi, clusters counted): G/(G-1) sum_g S_g^2, G = the clusters holding an
    example of `mask` (every example when None)."""
    sums = cluster_sums(psi, clusters)
    count = present(mask, clusters) if mask is not None else np.full(psi.shape[:-1], float(clusters.count))
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = np.where(count > 1, count / (count - 1) * np.square(sums).sum(axis=-1), np.nan)
    return variance, count


def cross(psi_a: np.ndarray, psi_b: np.ndarray, clusters: Clusters) -> np.ndarray:
    """The CR1 covariance of sum psi_a and sum psi_b over all clusters (psi_a with itself: the variance)."""
    count = clusters.count
    product = (cluster_sums(psi_a, clusters) * cluster_sums(psi_b, clusters)).sum(axis=-1)
    return count / (count - 1) * product if count > 1 else np.full(product.shape, np.nan)


def mean_influence(values: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean of `values` where mask, each example's contribution to it): psi_i = mask_i (v_i - mean)/n_mask."""
    weight = mask.astype(float)
    count = weight.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (values * weight).sum(axis=-1, keepdims=True) / count
        # in place: the same operations in the same order as weight * (values - mean) / count, one array
        psi = values - np.nan_to_num(mean)
        psi *= weight
        psi /= count
    return mean[..., 0], np.nan_to_num(psi, copy=False)


def sd_influence(y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pooled within-group sd of y, each example's contribution to it), as in the module docstring."""
    treated = w.astype(float)
    _, psi1 = mean_influence(y, w)
    _, psi0 = mean_influence(y, ~w)
    n1, n0 = treated.sum(axis=-1, keepdims=True), (1 - treated).sum(axis=-1, keepdims=True)
    residual = np.where(w, psi1 * n1, psi0 * n0)  # v_i - its group's mean
    squares = np.square(residual)
    n = y.shape[-1]
    total = squares.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(total / (n - 2))
        psi = (squares - total / n) / (2 * sd * n)
    return sd[..., 0], psi


def effect_size_se(raw_se: np.ndarray, theta: np.ndarray, sd: np.ndarray, psi_tau: np.ndarray,
                   psi_sd: np.ndarray, clusters: Clusters) -> np.ndarray:
    """The delta-method SE of theta = tau/sd (module docstring); raw_se is tau's own SE, iid or CR1.

    Never below raw_se/sd, the SE with sd known: at theta = 0 the delta method gives exactly that,
    and a covariance term that shrinks it elsewhere could otherwise make the effect-size interval
    exclude 0 where the raw interval holds it (seen at n = 11). So whenever the raw interval holds
    0, the effect-size interval does too."""
    covariance = cross(psi_tau, psi_sd, clusters)
    variance_sd = cross(psi_sd, psi_sd, clusters)
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = (np.square(raw_se) - 2 * theta * covariance + np.square(theta) * variance_sd) / np.square(sd)
        return np.maximum(np.sqrt(np.maximum(variance, 0.0)), raw_se / sd)
