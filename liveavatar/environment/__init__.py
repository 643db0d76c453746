"""The machine LiveAvatar runs on: what is installed, what the hardware can do, how the process is stopped.

optional.py     import_torch: PyTorch is optional; a missing one is one line naming the install command
install_hint.py the pip command that installs an optional extra, worded for how this copy was installed
machine.py      THE description of the machine a figure was measured on (run --stats-json, bench --json)
stopsignals.py  SIGTERM and SIGHUP handled like Ctrl-C, so a run stops cleanly (recordings finalised)
health.py       the machine's health, as data: doctor's checks, asked one at a time by run, bench and the app
"""
