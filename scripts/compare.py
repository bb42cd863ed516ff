"""Presets (and Lucent's images) side by side: python scripts/compare.py --help"""

from jaxviz.cli.compare import main

if __name__ == "__main__":
    main()
