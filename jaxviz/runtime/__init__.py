"""The process and its surroundings: user paths and OS errors, atomic files, PNGs, the run-directory lock,
processes, JAX's runtime (lazy import, private APIs, compilation cache and clock), what changes the numbers,
fitting work to a device. No config, no model."""
