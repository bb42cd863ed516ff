"""Check an accelerator in one command: python scripts/device_check.py --out DIR [--budget-s 480] [--smoke]"""

from jaxviz.cli.device_check import main

if __name__ == "__main__":
    main()
