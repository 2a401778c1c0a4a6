"""A minimal third-party cell: tanh of a linear map of the neighbourhood mean and centre."""
