"""The pure core: values in, values out. No module state, no clock, environment or files."""
