"""`python -m memwatch.generators` runs gen-monitoring."""

from memwatch.generators.cli import main

main()
