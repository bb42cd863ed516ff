"""One visualisation run: its plan, the chunks it computes and stores, what it reports, its dataset examples.

Import the modules themselves (jaxviz.run.visualization.run_visualization); this package imports nothing, so
the atlas can read a run's formats (chunk_store) without importing JAX.
"""
