"""yolokit.deploy."""
