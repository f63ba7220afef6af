"""Library code behind the DVC stages: data preparation, detector, portion estimator, evaluation."""
