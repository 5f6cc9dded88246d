"""Network Space Search (paper 003): the Expanded Search Space, its weight-sharing supernet with channel
and depth masking, and the analytical FLOPs that the search's FLOPs loss needs."""
