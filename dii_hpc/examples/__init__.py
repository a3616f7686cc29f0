"""Demo models and data for the quickstart, the Executor and audits (no downloads).

digits (CNN, sklearn digits), tabular (MLPs on breast_cancer / diabetes / generated noisy
data, a scikit-learn logistic regression), timeseries (1D CNN on bundled UCR GunPoint).
"""
