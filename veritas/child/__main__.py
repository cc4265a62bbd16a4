import sys

from veritas.child.main import main

sys.exit(main())
