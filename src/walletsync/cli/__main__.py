"""`python -m walletsync.cli`: the same as the `walletsync` console script."""

from walletsync.cli import main

main()
