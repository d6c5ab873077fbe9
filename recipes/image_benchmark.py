"""Train every image variant and baseline on the 8x8 digits and write docs/image/RESULTS.md plus sample grids.

    python recipes/image_benchmark.py [--scale 0.1] [--out-dir docs/image] [--runs runs/image_benchmark]

Same as ``seqgan image benchmark``. About ten minutes on 2 CPU cores at scale 1.
"""

import sys

from seqgan.image.cli import main

if __name__ == "__main__":
    sys.exit(main(["benchmark", *sys.argv[1:]]))
