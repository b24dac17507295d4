"""``python -m bot.trainer``: see bot/trainer/cli.py."""

import sys

from bot.trainer.cli import main

sys.exit(main())
