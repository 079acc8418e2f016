"""Download the course's datasets (CIFAR-10, CIFAR-100, Fashion-MNIST) into DATA_ROOT with torchvision:
CI's data where the offline copies of ../shared/datasets are not there (GitHub Actions; .ci/run).

    python .ci/download_datasets.py DATA_ROOT

course_utils' loaders download each official archive, check its checksum and extract it; a second run
finds the files and downloads nothing. Run it before the tests, so that parallel test processes never
download the same archive at once.
"""
from __future__ import annotations

import sys
from pathlib import Path

import course_utils as cu


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    root = Path(argv[0])
    for load in (cu.load_cifar10, cu.load_cifar100, cu.load_fashion_mnist):
        for train in (True, False):
            dataset = load(root, train=train)
            print(f"   {type(dataset).__name__} ({'train' if train else 'test'}): {len(dataset)} images in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
