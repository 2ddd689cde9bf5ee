"""The `hiddenparams` command line. Each stage registers its commands from its own module in this package."""

from __future__ import annotations

# Importing a stage module registers its commands on `app`.
from . import convert_cmds as _convert_cmds  # noqa: F401,E402
from . import data_cmds as _data_cmds  # noqa: F401,E402
from . import eval_cmds as _eval_cmds  # noqa: F401,E402
from . import jobs_cmds as _jobs_cmds  # noqa: F401,E402
from . import merge_cmds as _merge_cmds  # noqa: F401,E402
from . import model_cmds as _model_cmds  # noqa: F401,E402
from . import sample_cmds as _sample_cmds  # noqa: F401,E402
from . import score_cmds as _score_cmds  # noqa: F401,E402
from .app import app


def main() -> None:
    app()
