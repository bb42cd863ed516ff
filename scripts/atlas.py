"""Write the atlas of a run or sweep directory: python scripts/atlas.py DIR, then open DIR/atlas/index.html."""

from jaxviz.atlas.cli import atlas_main

if __name__ == "__main__":
    atlas_main()
