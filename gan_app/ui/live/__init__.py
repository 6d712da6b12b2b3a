"""The pushed live channel and the live panel every watching tab shows."""
