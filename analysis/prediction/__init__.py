"""Prediction-powered campaigns: every run to a horizon, a random subset of them to the end.

A run's outcome is known only once it has trained to its end, which is most of a campaign's
cost. Here every injection runs only to a horizon a few epochs after its fault, where features
are recorded; a random subset, drawn with known probabilities (``design``), goes on to the end
for its true outcome. A classifier trained on those labelled runs predicts the others'
outcomes from their features (``predictor``, cross-fitted so that no run's own label enters
its prediction), and prediction-powered inference (``ppi``) combines predictions and labels into
outcome rates with valid confidence intervals, narrower than those of the labelled runs alone
when the predictor is informative and no worse otherwise (power tuning). ``estimate`` makes the
rates table, ``resample`` simulates such campaigns on a fully run one to choose the fraction.

TensorFlow-free, like all of ``analysis``; every module imports scikit-learn, pandas or numpy
only when it needs them.
"""
