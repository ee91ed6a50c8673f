"""The data layer: dataset formats, windowing, subject splits and the data summary, kept apart from
model fitting so `har data` and the loaders never import TensorFlow."""
