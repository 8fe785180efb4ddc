"""Pure functions that render the files landing on the host: plain values in, text out."""
