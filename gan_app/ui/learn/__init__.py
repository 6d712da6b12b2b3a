"""The Learn page: the tutorials in pictures and the slow-motion step."""
