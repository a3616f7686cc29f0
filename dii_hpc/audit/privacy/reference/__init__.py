"""Reference (shadow) models and the attacks that need them: LiRA, RMIA."""
