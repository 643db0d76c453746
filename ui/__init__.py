"""The desktop app (installed as liveavatar.ui): the only package that imports PySide6.

    app.py          QApplication setup, `liveavatar app` entry, offscreen screenshots
    main_window.py  the window: layout and wiring of the parts below (no pipeline logic of its own)
      window_settings.py  WindowSettings: the last choices restored into the panels and session, saved at close
      model_loading.py    ModelLoading: the checkpoint opened, cameras and engines listed (worker thread)
      gallery_actions.py  GalleryActions: choose, add, build, delete, rename avatars; the sample portrait
      output_actions.py   OutputActions: virtual camera, stream and recording switches, recordings folder
      pose_actions.py     PoseActions: edit mode (posing by hand) and saving its still
      provenance_check.py ProvenanceCheck: a dropped file checked for the watermark and C2PA manifest
      (each window part gets widgets and callbacks, never the window: the window imports them, not back)
    session.py      LiveSession: owns the runner, runs every blocking call on a worker thread
    bridge.py       RunnerBridge: runner observer calls (worker threads) → queued Qt signals
    store.py        AvatarStore: the persistent gallery of avatars in the user's data folder (Qt-free)
    tasks.py        TaskPool: callables on worker threads with progress and cancel, waited on at close
    library.py      AvatarLibrary: the gallery's data and work (load, build, import, rename, delete) off the GUI
    editor.py       PoseEditor: the edit mode's renders of hand-set poses, off the GUI thread
    platform_check.py  can Qt open a window here? (Qt-free at import; shared with `liveavatar doctor`)
    settings.py     AppSettings: QSettings persistence of the user's last choices
    paths.py        data folder (QStandardPaths, or LIVEAVATAR_DATA_DIR) and recordings folder
    widgets/        frame view, gallery and its header, control panels and their side column, expression panel,
                    model banner, status area, help overlay, theme

Threading rule: nothing on the GUI thread captures, infers, or reads/writes media files. Long work goes
through TaskPool (avatars built and loaded, the runner started and stopped, sinks opened); frames reach
the view through the bridge's latest-frame slot, so a slow paint never queues frames.
"""
