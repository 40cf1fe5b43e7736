import sys

from genre_model.cli import main

sys.exit(main())
