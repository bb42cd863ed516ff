"""MACO's magnitude template of an image folder: python scripts/spectrum.py DIR --out FILE [--size N]"""

from jaxviz.cli.spectrum import main

if __name__ == "__main__":
    main()
