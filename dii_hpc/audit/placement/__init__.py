"""Where an audit runs: in process, over MPI ranks, as Slurm arrays and chains."""
