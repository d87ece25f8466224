"""``python -m flows.cli``: the ``ldn`` command line."""
from flows.cli import main

if __name__ == "__main__":  # importing the module (pkgutil walks, doctest collection) runs nothing
    main()
