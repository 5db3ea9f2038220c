"""Why an example is offered for retraining (light: the CLI's options list them at import)."""

REASONS = ("novel", "drifted", "low_score", "wrong_label", "judge_failed")
