"""NAAP-440 (paper 001): early-epoch accuracy predictors."""
