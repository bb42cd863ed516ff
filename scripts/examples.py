"""Dataset examples: python scripts/examples.py --images DIR [--config FILE] [--layers ...] [--top K] [--out RUN]..."""

from jaxviz.examples.cli import examples_main

if __name__ == "__main__":
    examples_main()
