"""`python -m aa_core.cli` is the `aa` command."""
import sys

from ._main import main

sys.exit(main())
