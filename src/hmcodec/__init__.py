"""hmcodec: learned scalable image coding for humans and machines."""

__version__ = "0.3.1"
