"""Entry point: `streamlit run dashboard.py` (or `make run`) serves the dashboard's pages
(gan_app/ui/main.py) and, beside them, the live channel that pushes the run's newest grid to
every open tab (gan_app/ui/live/channel.py) and the latent lab's scripts, model versions and
socket (gan_app/ui/lab/routes.py). With GAN_APP_BROKER it is a replica of a lecture hall
(gan_app/broker): the class's trainer runs in its own process, and the presenter's view and the
lab's model versions and the class's drawings reach the other replicas."""

import streamlit as st

from gan_app.core.tfquiet import import_tensorflow_quietly

import_tensorflow_quietly()  # before anything below imports it, so its start-up lines stay out of the log

from gan_app.classroom.room import classroom  # noqa: E402
from gan_app.ui.lab.routes import lab_routes  # noqa: E402
from gan_app.ui.live.channel import LiveChannel, closing, live_routes  # noqa: E402

room = classroom().join_hall()  # what every tab of this server shares (and, in a lecture hall, every replica)
app = st.App("gan_app/ui/main.py",
             routes=live_routes(LiveChannel(room.snapshot))
             + lab_routes(room.feed, room.announcer, room.registry, desk=room.desk),
             lifespan=lambda _: closing(room.close))
