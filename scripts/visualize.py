"""Visualise VGG16 filters: python scripts/visualize.py --config configs/quick.toml [--set k=v]..."""

from jaxviz.cli.visualize import main

if __name__ == "__main__":
    main()
