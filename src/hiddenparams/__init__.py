"""hiddenparams: map a free-text music request to six hidden parameters as strict JSON."""

__version__ = "0.1.0"
