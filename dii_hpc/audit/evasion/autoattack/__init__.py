"""AutoAttack's standard evaluation (Croce & Hein 2020), as RobustBench runs it."""
