"""``python -m dqx.cli``, the same as the ``dqx`` console script."""

from dqx.cli import main

main()
