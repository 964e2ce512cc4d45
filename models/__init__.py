"""Models: training, evaluation, the save policy, explanations and MLflow tracking."""
