"""yolokit.evaluation."""
