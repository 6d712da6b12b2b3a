import sys

from gan_app.cli import main

sys.exit(main())
