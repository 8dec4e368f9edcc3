from qbfailover.cli import main

main()
