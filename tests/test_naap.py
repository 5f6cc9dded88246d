"""NAAP-440 (paper 001): the split, the monotonicity score, and Table 3 reproduced on the real table."""

from __future__ import annotations

import numpy as np
import pytest

from archtune.naap.data import load_naap440, paper_split
from archtune.naap.metrics import monotonicity_score, monotonicity_violations
from archtune_experiments.naap.baseline import evaluate, feature_sets
from archtune_experiments.naap.paper_table3 import PAPER_TABLE3


def test_split_reproduces_is_test_exactly():
    t = load_naap440()
    assert len(t.model_id) == 440 and t.is_test.sum() == 40
    assert np.array_equal(paper_split(t.max_accuracy, t.model_id), t.is_test)
    # the tie-break is what matters: in ModelId order, models 56 and 198 (both 0.6521) would swap
    order = np.argsort(t.max_accuracy, kind="stable")
    naive = np.zeros(440, dtype=bool)
    naive[order[5::11]] = True
    assert set(t.model_id[naive != t.is_test]) == {56, 198}


def test_monotonicity_on_hand_made_cases():
    truth = np.arange(1.0, 8.0)
    assert monotonicity_violations(truth, truth) == 0 and monotonicity_score(truth, truth) == 1.0
    assert monotonicity_violations(truth, truth[::-1]) == 21 and monotonicity_score(truth, truth[::-1]) == 0.0
    fig4 = [1, 2, 6.5, 3, 4, 5, 7]  # one item misplaced past three others: the paper's 6/7
    assert monotonicity_score(truth, fig4) == pytest.approx(6 / 7)
    assert monotonicity_violations(truth, np.ones(7)) == 0  # equal predictions order nothing wrongly
    with pytest.raises(ValueError, match="one length"):
        monotonicity_violations([1, 2], [1, 2, 3])


def test_features_follow_the_papers_rules():
    t = load_naap440()
    X0, _, X0_test, y_test = feature_sets(t, 0)
    X9, y9, _, _ = feature_sets(t, 9)
    assert X0.shape == (400, 2) and X9.shape == (400, 6 + 9 * 3)
    assert np.all(np.diff(y_test) >= 0) and np.all(np.diff(y9) >= 0)  # rows in accuracy order
    assert np.allclose(np.exp(X9[:, 0]), np.exp(X0[:, 0])) and set(X0[:, 1]) == {
        2.0,
        3.0,
    }  # log #params, #stages
    assert np.array_equal(
        X9[:, 6:9],
        np.stack([t.epochs[m][~t.is_test, 0] for m in ("LossMean", "LossMedian", "Accuracy")], 1)[
            np.argsort(t.max_accuracy[~t.is_test], kind="stable")
        ],
    )


@pytest.mark.parametrize("epochs", [0, 3, 6, 9])
def test_table3_deterministic_rows_match_the_paper_exactly(epochs):
    for name in ("Linear Regression", "1-NN", "3-NN", "SVR (RBF kernel)"):
        r = evaluate(name, epochs)
        mae, score, violations = PAPER_TABLE3[name][[0, 3, 6, 9].index(epochs)]
        assert r.violations == violations and round(r.mae, 3) == pytest.approx(mae, abs=0.0011), (name, r)


def test_table3_random_forest_target():
    r = evaluate(
        "Random Forest (N=200)", 9
    )  # paper: 0.004 / 25; issue target: MAE <= 0.005, <= 30 violations
    assert r.mae <= 0.005 and r.violations <= 30, r


def test_scheme_generator_builder_params_and_macs_match_the_table():
    from archtune.naap.data import load_schemes
    from archtune.naap.schemes import count_macs, generate_schemes, naap_net

    t = load_naap440()
    generated = generate_schemes()
    assert [list(s) for s in generated] == load_schemes()  # all 440, in ModelId order
    for i, scheme in enumerate(generated):
        assert sum(p.numel() for p in naap_net(scheme).parameters()) == t.scheme["NumParams"][i]
        assert count_macs(scheme) == t.scheme["NumMACs"][i]  # THOP's convention, documented
    plain = count_macs(generated[0], table_convention=False)
    assert plain == 210080 and t.scheme["NumMACs"][0] - plain == 4 * 5120 + (8 * 8 + 1) * 16


def test_naap440_space_builds_real_networks():
    import torch

    from archtune.spaces import make_space

    space = make_space("naap440")
    net = space.encoding_to_net(space.encodings[100])
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    assert space.metrics["params"][100] == sum(p.numel() for p in net.parameters())


# The whole protocol below fits scikit-learn's ARD GP 12 times (about 2 minutes); the three-model mean
# alone meets the same target in seconds, so the default run checks the target with it.
def test_the_three_model_mean_alone_beats_the_papers_best_without_training():
    from archtune_experiments.naap.predictor import evaluate_ours

    # restricted to the three-model mean, the protocol reports that model (24 violations in session 6)
    averaged = evaluate_ours(0, models=("averaged",))  # paper's best with 0 epochs: 42; target: at most 38
    assert averaged.chosen == "averaged, scheme" and averaged.violations <= 38 and averaged.mae <= 0.005


@pytest.mark.slow
def test_our_predictor_beats_the_papers_best_without_training():
    from archtune_experiments.naap.predictor import evaluate_ours

    r = evaluate_ours(0)  # paper's best with 0 epochs: 42 violations; issue target: at most 38
    assert r.violations <= 38 and r.mae <= 0.005, r
    model, features = r.chosen.split(", ")
    assert features == "scheme"  # the only feature set without epochs


@pytest.mark.slow
def test_our_predictor_meets_the_nine_epoch_target():
    from archtune_experiments.naap.predictor import evaluate_ours

    r = evaluate_ours(
        9
    )  # paper's best with 9 epochs: 25 violations (Random Forest); issue target: at most 20
    assert r.violations <= 20 and r.mae <= 0.005, r


def test_training_recipe_schedule_and_a_real_run_on_mnist5k():
    from archtune.datasets.mnist5k import load_mnist5k, stratified_split
    from archtune.naap.recipe import learning_rate, train_with_recipe
    from archtune.naap.schemes import generate_schemes

    assert [learning_rate(e) for e in range(6)] == pytest.approx([0.1, 0.01, 0.001, 0.1, 0.01, 0.001])
    images, labels = load_mnist5k()
    train, test = stratified_split(labels, test_per_class=100)
    scheme = generate_schemes()[1]
    log = train_with_recipe(scheme, images, labels, train, test, epochs=2, seed=0)
    assert [e["epoch"] for e in log] == [1, 2] and [e["lr"] for e in log] == pytest.approx([0.1, 0.01])
    # 32 SGD steps of a 5k-parameter net: far from converged, but well above chance (0.1) and improving
    assert log[-1]["accuracy"] > 0.2 and log[-1]["loss_mean"] < log[0]["loss_mean"]
    assert (
        train_with_recipe(scheme, images, labels, train, test, epochs=1, seed=0)[0] == log[0]
    )  # deterministic


def test_predicted_fidelity_inside_a_search(tmp_path):
    from archtune import SearchInstance, create_search_space
    from archtune.naap.fidelity import PredictedFidelity

    class Shift:  # stands in for a trained regressor: final accuracy = accuracy after k epochs + 10
        def predict(self, X):
            return [row[0] + 10 for row in X]

    space = create_search_space("w", None, [(w,) for w in range(30)])
    lo = PredictedFidelity(
        lambda e: [{"accuracy": 50.0 + e[0] / 2}], Shift(), lambda e, curve: [curve[-1]["accuracy"]]
    )
    s = SearchInstance(
        "p",
        tmp_path / "p.search",
        search_space=space,
        hi_fi_eval=lambda e: 60.0 + e[0] / 2,
        hi_fi_cost=90,
        lo_fi_eval=lo,
        lo_fi_cost=9,
        strategy="bo",
        progress=False,
    )
    s.run_search(eval_budget=4)
    lo_trials = [h for h in s.history() if h["fidelity"] == "lo"]
    assert lo_trials and all(h["value"] == 60.0 + h["encoding"][0] / 2 for h in lo_trials)  # the prediction
    assert all(
        h["metrics"]["curve"][0]["accuracy"] == h["value"] - 10 for h in lo_trials
    )  # the curve is kept
    s.close()


def test_naap_search_benchmark_counts_full_training_units(tmp_path):
    from archtune_experiments.naap.fidelity_search import _run

    # random search over all 220 architectures of a half must meet the half's best, at a whole number of units
    units = _run(seed=0, budget=220, epochs=9, variant="random", workdir=tmp_path)
    assert units is not None and 1 <= units <= 220 and float(units).is_integer()
    (tmp_path / "one").mkdir()  # a fresh search file: one full training either is the best or is not
    assert _run(seed=0, budget=1, epochs=9, variant="random", workdir=tmp_path / "one") in (None, 1.0)


def test_curve_summary_reads_the_cycle_ends_and_the_best_so_far():
    from archtune_experiments.naap.predictor import curve_summary, feature_candidates

    t = load_naap440()
    summary = curve_summary(t, 9)
    assert summary.shape == (440, 3 * 3 + 1)
    acc = t.epochs["Accuracy"]
    assert np.array_equal(
        summary[:, 6:9], acc[:, [2, 5, 8]]
    )  # accuracy at epochs 3, 6, 9 (metric order: loss mean, median, accuracy)
    assert np.array_equal(summary[:, -1], acc[:, :9].max(axis=1))
    assert list(feature_candidates(t, 0)) == ["scheme"]
    assert list(feature_candidates(t, 3)) == ["scheme", "scheme + epochs", "scheme + curve"]
