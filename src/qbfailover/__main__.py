"""``python -m qbfailover``: the same command as the ``qbfailover`` console script."""

from qbfailover.cli import main

main()
