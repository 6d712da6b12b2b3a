"""Entry point: `streamlit run dashboard.py` (or `make run`) serves the dashboard's pages
(gan_app/ui/main.py) and, beside them, the live channel that pushes the run's newest grid to
every open tab (gan_app/ui/live_channel.py) and the latent lab's scripts, model versions and
socket (gan_app/ui/lab_routes.py). With GAN_APP_BROKER it is a replica of a lecture hall
(gan_app/broker): the class's trainer runs in its own process, and the presenter's view and the
lab's model versions reach the other replicas."""

import streamlit as st

from gan_app.tfquiet import import_tensorflow_quietly

import_tensorflow_quietly()  # before anything below imports it, so its start-up lines stay out of the log

from gan_app.broker import broker_url  # noqa: E402
from gan_app.lab_bundle import REGISTRY  # noqa: E402
from gan_app.ui.common import current_trainer  # noqa: E402
from gan_app.ui.lab_feed import ANNOUNCER, FEED  # noqa: E402
from gan_app.ui.lab_game import DESK  # noqa: E402
from gan_app.ui.lab_routes import lab_routes  # noqa: E402
from gan_app.ui.live_channel import LiveChannel, closing, live_routes  # noqa: E402


def _snapshot():
    trainer = current_trainer()
    return None if trainer is None else trainer.snapshot()


def _stop_training() -> None:
    trainer = current_trainer()
    if trainer is not None:
        trainer.close()


if broker_url():  # a replica of a lecture hall: the presenter's view and the lab's versions go to the others
    from gan_app.broker.class_bus import ClassBus

    ClassBus(broker_url(), ANNOUNCER, REGISTRY).start()

app = st.App("gan_app/ui/main.py",
             routes=live_routes(LiveChannel(_snapshot)) + lab_routes(FEED, ANNOUNCER, desk=DESK),
             lifespan=lambda _: closing(_stop_training))
