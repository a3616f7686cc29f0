"""Evasion: the attack catalogues (ART, the torch engine, vision), generation, scoring, the
level I suite and AutoAttack's standard."""
