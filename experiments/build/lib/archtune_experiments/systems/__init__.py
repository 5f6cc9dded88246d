"""Systems measurements: parallel and SLURM speed-ups, the evaluator's throughput and memory, checkpoint reuse,
featurizing a million encodings, opening a 10,000-trial report."""
