"""Paper 001 (NAAP-440): Table 3's regressors, our predictor beside them, a predicted fidelity inside a search."""
