"""One run's lifecycle, below the commands: checkpoints (written atomically, loaded
safely), resume, trackers, ranks, environment tweaks, building the run's objects from the
config, fitting and testing, and sweep trials. The run directory's files are named in
genlab/run_dir.py."""
