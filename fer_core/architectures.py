"""The CNN architectures, as Keras models taking normalized [N, 48, 48, 1] faces.

Only training and evaluation import this module (it needs TensorFlow); the app runs the
exported .tflite files instead.
"""

from __future__ import annotations

import keras
from keras import layers

from .emotions import EMOTIONS

INPUT_SHAPE = (48, 48, 1)


def seed_cnn() -> keras.Model:
    """The seed's baseline, exactly as described: two conv blocks, one dense layer."""
    return keras.Sequential(
        [
            keras.Input(INPUT_SHAPE),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.3),
            layers.Dense(len(EMOTIONS), activation="softmax"),
        ],
        name="seed",
    )


def _conv_bn(x, filters: int):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x)


def compact_vgg(widths=(32, 64, 128, 256), dropout: float = 0.4) -> keras.Model:
    """The default model: four VGG blocks (two 3×3 conv + BN + ReLU each, then max-pool),
    global average pooling and a softmax. Small enough to classify a face in about a millisecond."""
    inputs = keras.Input(INPUT_SHAPE)
    x = inputs
    for filters in widths:
        x = _conv_bn(x, filters)
        x = _conv_bn(x, filters)
        x = layers.MaxPooling2D()(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(len(EMOTIONS), activation="softmax")(x)
    return keras.Model(inputs, outputs, name="compact_vgg")


def wide_vgg() -> keras.Model:
    """compact_vgg at 1.5× the width (48–384 filters, 2.6 M parameters, ~2.2× the multiply-adds): two of
    the three members of the shipped ``ensemble`` (models/README.md); the shipped ``default`` is
    ``compact_vgg``."""
    return compact_vgg((48, 96, 192, 384))


ARCHITECTURES = {"seed": seed_cnn, "compact_vgg": compact_vgg, "wide_vgg": wide_vgg}
