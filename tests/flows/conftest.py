"""Flow test helpers: test modules import fake_policy (any --import-mode)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
