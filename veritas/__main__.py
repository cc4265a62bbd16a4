import sys

from veritas.cli import main

sys.exit(main())
