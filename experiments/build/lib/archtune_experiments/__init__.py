"""archtune's experiments: the paper reproductions and benchmark drivers, outside the library.

One folder per paper or theme, each module a command's driver that writes a markdown table and JSON:

* :mod:`archtune_experiments.tabular`: strategies and peers side by side on NAS-Bench-201, -101 and
  -301 (paper 000's tables; ``archtune bench nb201|nb101|nb301|nb201-mo``)
* :mod:`archtune_experiments.naap`: NAAP-440's Table 3, our predictor, a predicted fidelity in a search
  (paper 001; ``archtune naap``)
* :mod:`archtune_experiments.tnas`: TNAS's Table 4, the open space, BO's step on knobs spaces, one-shot
  supernets (paper 002; ``archtune bench tnas-table|open-space|product-step``, ``archtune tnas oneshot``)
* :mod:`archtune_experiments.nss`: Network Space Search's Table 1 at CPU scale (paper 003; ``archtune nss``)
* :mod:`archtune_experiments.spline`: the spline on test functions and paper 004's tables
  (``archtune bench spline|spline-tables``)
* :mod:`archtune_experiments.systems`: parallel and SLURM speed-ups, the evaluator's throughput and memory,
  checkpoint reuse, featurizing, opening a report (``archtune bench parallel|slurm|throughput|memory|...``)

The library (``archtune``) never imports this package; its CLI finds these commands through the
``archtune.commands`` entry point (:func:`archtune_experiments.cli.add_commands`). The benchmark
objectives (tabular lookups, test functions) stay in :mod:`archtune.bench`, the summaries (units to a
target, p90, markdown tables, plots) in :mod:`archtune.report.benchmarks`.
"""
