"""`python -m genlab.train` and `from genlab.train import run`: the command lives in
genlab/cli/train.py."""

from genlab.cli.train import main, run

__all__ = ["main", "run"]

if __name__ == "__main__":
    main()
