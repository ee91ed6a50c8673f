"""`har search`: multi-objective architecture search against a board's budget (Optuna)."""
