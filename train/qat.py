"""Quantization-aware training (`har convert --qat`): the network trains with int8 fake-quantization of its
weights and activations (tensorflow-model-optimization, Keras 2 API), so the int8 model that conversion
makes is the one training saw, with the ranges training learned.

It runs in `har convert --qat`, as a fine-tuning of a trained run, because a quantization-aware tf_keras
model does not load back from the .keras format (its QuantizeLayer's variables mismatch on load): the
fine-tuned model goes straight to the converter. Layers the 8-bit scheme knows (convolutions with their
BatchNorm folded, dense, pooling, activations, add, reshape) are annotated; the others (the gravity
branch's cropping) stay float in training and are calibrated at conversion like any post-training-quantized
layer. The wrapping is deterministic, so the batch-1 export graph takes the fine-tuned weights as they are.
"""
from __future__ import annotations

from train.data.dataset import Prepared
from train.run_config import RunConfig

LEARNING_RATE_FACTOR = 0.05
EPOCHS = 10  # `har convert --qat`'s default fine-tuning


def _tfmot():
    try:
        import tensorflow_model_optimization as tfmot
    except ImportError:
        raise ValueError("--qat needs tensorflow-model-optimization, which the train extra installs: "
                         "pip install -e '.[train]'") from None
    return tfmot


def quantize_aware(model):
    """`model`, its weights included, with fake-quantization around every layer the default 8-bit scheme
    supports."""
    from train.models import keras

    tfmot = _tfmot()
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import default_8bit_quantize_registry

    registry = default_8bit_quantize_registry.Default8BitQuantizeRegistry()
    annotate = tfmot.quantization.keras.quantize_annotate_layer

    folded = {layer.name for layer in model.layers if _after_plain_conv(layer, keras)}

    def clone(layer):
        return annotate(layer) if registry.supports(layer) or layer.name in folded else layer

    annotated = keras.models.clone_model(model, clone_function=clone)
    with tfmot.quantization.keras.quantize_scope():
        return tfmot.quantization.keras.quantize_apply(annotated)


def _after_plain_conv(layer, keras) -> bool:
    """A BatchNormalization right after a Conv2D: the 8-bit scheme folds that pair. Any other BatchNormalization
    (after a separable convolution or a dense layer) it refuses, so it stays float, folded at conversion."""
    if not isinstance(layer, keras.layers.BatchNormalization):
        return False
    before = layer.input._keras_history.layer
    return type(before) is keras.layers.Conv2D


def fine_tune(config: RunConfig, prepared: Prepared, trained, epochs: int):
    """The trained classifier, fine-tuned quantization-aware for `epochs` on its training split (the same
    batches, augmentation and class weights as training) at a twentieth of the training learning rate."""
    from train.fit import training_data
    from train.models import keras

    if prepared.contract.task != "classification":
        raise ValueError("--qat is for classifiers; a regression model converts with post-training quantization")
    if config.members > 1:
        raise ValueError(f"--qat fine-tunes one network; this model averages {config.members} (model.members): "
                         "convert it without --qat, or train the recipe as one network (--set model.members=1)")
    model = quantize_aware(trained)
    model.compile(optimizer=keras.optimizers.Adam(config.train.learning_rate * LEARNING_RATE_FACTOR),
                  loss="sparse_categorical_crossentropy")
    model.fit(training_data(config.train, prepared), epochs=epochs, verbose=0)
    return model
