"""Features: point-in-time feature functions, the feature registry and labels."""
