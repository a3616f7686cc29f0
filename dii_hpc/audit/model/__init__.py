"""What is audited: the model protocols, ART adapters, ready wrappers, input checks."""
