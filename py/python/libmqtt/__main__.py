"""``python -m libmqtt pub | sub | broker | decode`` (see :mod:`libmqtt._cli`)."""

import sys

from ._cli import main

sys.exit(main())
