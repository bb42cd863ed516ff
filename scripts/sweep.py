"""Run a sweep: python scripts/sweep.py --config configs/sweeps/steps_x_step.toml [--out DIR] [--set k=v]..."""

from jaxviz.cli.sweep import main

if __name__ == "__main__":
    main()
