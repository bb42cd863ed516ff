"""Ascent throughput: python scripts/benchmark.py --layer block3_conv1 --size 128 --filters 16 --json"""

from jaxviz.cli.benchmark import main

if __name__ == "__main__":
    main()
