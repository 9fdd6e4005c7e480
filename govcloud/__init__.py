"""govcloud: infrastructure as code for the abar-dowlat government cloud."""

__version__ = "0.1.0"
