"""What one dashboard server shares among its tabs, and the class's live activities that run
beside the pages (no Streamlit here): the classroom that owns them (room.py), the lab's live copy
and the open labs' sockets (feed.py), the Real or fake? desk (desk.py), the presenter password's
limiter (logins.py). Pages reach them through `gan_app.classroom.room.classroom()`."""
