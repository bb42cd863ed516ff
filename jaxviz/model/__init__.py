"""VGG16: its architecture as facts, the Flax network, Winograd convolutions, its weights (read from Keras'
files, checked, found or downloaded) and the layer/filter specs checked against it."""
