"""NAAP-440 (paper 001): the table, its architectures (schemes) as networks, the training recipe, the
monotonicity score, and a predicted fidelity for searches. Table 3 and our predictor are experiments
(``archtune_experiments.naap``)."""
