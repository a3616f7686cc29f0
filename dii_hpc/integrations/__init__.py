"""Adapters that let training code written for other frameworks log to dii-hpc unchanged.

``lightning.DiiLogger`` (PyTorch Lightning) and ``transformers.DiiCallback`` (Hugging Face
Trainer). Each module imports its framework only when its class is first used, so importing
dii_hpc never imports Lightning or transformers (extras ``dii-hpc[lightning]``,
``dii-hpc[transformers]``).
"""
