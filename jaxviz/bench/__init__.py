"""Benchmarks: the ascent's and the dataset examples' speed, start-up time, a sweep atlas's cost, presets
side by side; the device's measured peaks and the figures' report."""
