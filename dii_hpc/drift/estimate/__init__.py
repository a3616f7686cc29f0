"""Performance without labels: CBPE for classifiers (`cbpe`), DLE for regressors (`dle`).

`assess` is what a monitor's profile and check call: the profile keeps the reference's labels
and class scores (and checks their calibration), a check estimates the batch's metrics per
chunk with bands from the reference's sampling error (`bands`), and `drift score` adds the
realized metrics once the labels come.
"""
