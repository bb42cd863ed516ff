"""Convert Keras VGG16 h5 weights to flax msgpack: python scripts/convert_weights.py --output P.msgpack"""

from jaxviz.cli import convert_main

if __name__ == "__main__":
    convert_main()
