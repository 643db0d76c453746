"""The desktop app (installed as liveavatar.ui): the only package that imports PySide6.

    app.py          QApplication setup, `liveavatar app` entry, offscreen screenshots
    main_window.py  the window: layout and wiring of the parts below (no pipeline logic of its own)
    session.py      LiveSession: owns the runner, runs every blocking call on a worker thread
    bridge.py       RunnerBridge: runner observer calls (worker threads) → queued Qt signals
    store.py        AvatarStore: the persistent gallery of avatars in the user's data folder (Qt-free)
    tasks.py        TaskPool: callables on worker threads with progress and cancel, waited on at close
    library.py      AvatarLibrary: the gallery's data and work (load, build, import, rename, delete) off the GUI
    editor.py       PoseEditor: the edit mode's renders of hand-set poses, off the GUI thread
    platform_check.py  can Qt open a window here? (Qt-free at import; shared with `liveavatar doctor`)
    settings.py     AppSettings: QSettings persistence of the user's last choices
    paths.py        data folder (QStandardPaths, or LIVEAVATAR_DATA_DIR) and recordings folder
    widgets/        frame view, gallery, control panels, expression panel, status area, help overlay, theme

Threading rule: nothing on the GUI thread captures, infers, or reads/writes media files. Long work goes
through TaskPool (avatars built and loaded, the runner started and stopped, sinks opened); frames reach
the view through the bridge's latest-frame slot, so a slow paint never queues frames.
"""
