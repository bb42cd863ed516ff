"""Sweeps: a sweep file read into points, one ordinary run per point, the sweep directory's index."""
