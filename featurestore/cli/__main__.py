"""``python -m featurestore.cli``."""

from featurestore.cli import main

main()
