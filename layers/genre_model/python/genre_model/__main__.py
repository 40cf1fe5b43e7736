"""``python -m genre_model``: the operator's command line (``cli``)."""

import sys

from genre_model.cli import main

sys.exit(main())
