"""Paper 002 (TNAS): Table 4 on NAS-Bench-201, the three-cell open space, BO's step time on knobs spaces, one-shot
supernets (SPOS against a TNAS-sampled supernet)."""
