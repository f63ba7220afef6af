"""Training and evaluating the portion estimator and its two baselines; what it runs is training/inference/."""
