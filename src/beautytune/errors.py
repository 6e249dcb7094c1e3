"""User-facing errors: one clear line saying what is wrong, where, and what to do."""


class BeautytuneError(Exception):
    """An error caused by the user's input or environment, shown as one line by the CLI."""


class DataError(BeautytuneError):
    """Bad or insufficient data (a missing column, too few images in a class, ...)."""


class BundleError(BeautytuneError):
    """A bundle that cannot be loaded (missing files, unknown format version, ...)."""


class WeightsError(BeautytuneError):
    """Pretrained weights that are missing or do not fit the architecture."""


class InputError(Exception):
    """One unusable input to a model (an unreadable image, an empty text); ``str`` is why.

    Not a BeautytuneError: it is reported for that input and the others go on.
    """
