"""Paper 003 (Network Space Search): Table 1 at CPU scale, the Elite against the Expanded space."""
