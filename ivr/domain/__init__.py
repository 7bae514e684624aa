"""The pure domain: plain Python over plain data. No I/O, no clock, no frameworks."""
