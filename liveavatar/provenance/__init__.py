"""Provenance: what lets anyone check that a picture or video came from LiveAvatar.

    watermark.py   the invisible mark added to every output frame (Composer, next to the visible "AI" mark)
    detect.py      finding the mark in a picture or in windows of video frames
    config_dir.py  the user's LiveAvatar config folder (where the signing key lives)
    signing.py     the per-installation key and certificate (or an organisation's own), made on first use
    manifest.py    the C2PA manifest (c2pa.created, trainedAlgorithmicMedia) and signing a finished file
    check.py       one file → watermark and manifest verdicts (`liveavatar check`, the app's dropped file)

c2pa-python and cryptography are imported only when a file is signed or read: `import liveavatar` stays cheap.
"""
