"""Write the atlas of a run or sweep directory: python scripts/atlas.py DIR, then open DIR/atlas/index.html."""

from jaxviz.cli.atlas import main

if __name__ == "__main__":
    main()
