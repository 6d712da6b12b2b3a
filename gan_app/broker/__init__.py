"""The broker between the one trainer and the pages: what the trainer publishes (its snapshots:
loss rows, the live grid and D's verdicts, quality, the Learn page's slow-motion sub-step, the
run's state and message), what pages send it (the commands of gan_app.live.commands) and what
they ask of it (a copy of the live weights, the model diagram).

Pages talk to the trainer through one interface: `snapshot()` and the commands of
gan_app.live.commands.TrainerCommands (start, pause, reset, copy_generator, ...). Two backends:
- in-process, the embedded default: the link is the server's own gan_app.live.trainer.LiveTrainer (its
  worker thread trains in the dashboard's process; nothing else to run);
- Redis (`GAN_APP_BROKER=redis://HOST:PORT`): the trainer runs in its own process
  (`python -m gan_app trainer --broker redis://HOST:PORT`, gan_app.broker.service) and every
  dashboard server is a replica that never trains (gan_app.broker.remote.RemoteTrainer).
"""

from __future__ import annotations

import os
from gan_app.core.errors import UsageError

BROKER_ENV = "GAN_APP_BROKER"


def broker_url() -> str | None:
    """The broker pages use (GAN_APP_BROKER), checked; None: the embedded default (in-process)."""
    url = os.environ.get(BROKER_ENV, "").strip()
    if not url:
        return None
    check_url(url)
    return url


def check_url(url: str) -> str:
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise UsageError(f"{BROKER_ENV} / --broker must be a redis:// URL (for example redis://127.0.0.1:6379), "
                         f"got {url!r}; leave it unset for the embedded default")
    return url
