"""The sweep atlas's cost per point: python scripts/benchmark_sweep.py --points 10,40,160"""

from jaxviz.cli.benchmark_sweep import main

if __name__ == "__main__":
    main()
