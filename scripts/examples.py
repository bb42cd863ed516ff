"""Dataset examples: python scripts/examples.py --images DIR [--config FILE] [--layers ...] [--top K] [--out RUN]..."""

from jaxviz.cli.examples import main

if __name__ == "__main__":
    main()
