"""Paper 004 (polyharmonic-spline search): the spline against BO and random search on test functions, and the
paper's Tables 1, 4 and 5 beside our spline's predictions."""
