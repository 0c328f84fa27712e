"""The ``atrous`` command line."""
