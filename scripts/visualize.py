"""Visualise VGG16 filters: python scripts/visualize.py --config configs/quick.toml [--set k=v]..."""

from jaxviz.cli import visualize_main

if __name__ == "__main__":
    visualize_main()
