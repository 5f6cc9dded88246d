"""Reports and figures drawn from search files (spline projections, ...)."""
