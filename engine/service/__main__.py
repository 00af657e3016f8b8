import sys

from .main import main

# Guarded: a spawned worker imports this module again as __mp_main__.
if __name__ == "__main__":
    sys.exit(main())
