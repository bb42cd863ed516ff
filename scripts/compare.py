"""Presets (and Lucent's images) side by side: python scripts/compare.py --help"""

from jaxviz.cli import compare_main

if __name__ == "__main__":
    compare_main()
