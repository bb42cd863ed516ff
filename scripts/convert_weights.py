"""Convert Keras VGG16 h5 weights to flax msgpack: python scripts/convert_weights.py --output P.msgpack"""

from jaxviz.cli.convert import main

if __name__ == "__main__":
    main()
