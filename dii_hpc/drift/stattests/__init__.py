"""The built-in drift stat tests, one module each (a module-level `StatTest` is all it takes).

`dii_hpc.drift.stattest.STAT_TESTS` finds every `StatTest` defined in these modules, then those
of installed plug-ins (entry-point group ``dii_hpc.stattests``). Adding a built-in test is adding
one module here: nothing else lists the tests. `dii-hpc drift tests` shows what is installed.
"""
