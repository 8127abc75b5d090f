"""pcbforge: versioned training sets for one-shot visual inspection of PCB components."""

__version__ = "0.1.0"
