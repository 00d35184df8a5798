"""`python -m memwatch.generators` runs gen-monitoring."""

from memwatch.optional import gen_monitoring as main

main()
