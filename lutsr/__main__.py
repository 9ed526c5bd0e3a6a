"""``python -m lutsr``: the same command line as the ``lutsr`` script."""

from lutsr.cli import main

if __name__ == "__main__":
    main(prog_name="lutsr")
