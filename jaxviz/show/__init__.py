"""What is shown and written while work runs: tiles and grids, the progress bar, TensorBoard writers."""
