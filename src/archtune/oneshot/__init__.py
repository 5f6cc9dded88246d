"""One-shot (weight-sharing) NAS: the NB201 supernet, SPOS and TNAS-sampled training (paper 002, section 4.2)."""
