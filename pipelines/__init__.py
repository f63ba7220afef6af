"""One thin command-line entry point per DVC stage (`python -m pipelines.<stage> --help`)."""
