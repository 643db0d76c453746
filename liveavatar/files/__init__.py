"""Files, read and written safely: everything a user's file can hold goes through here first.

    imageio.py      decode_image / read_image / write_image: images as H×W×3 uint8 RGB, size read from the
                    header and refused above 50 MP before any pixel is decoded
    imageheader.py  image sizes read from file headers, before any pixel is decoded
    jsonlimits.py   parse_json: JSON read from files within size and depth limits
    text.py         printable: text from a file made safe for a terminal (control characters escaped)
    checks.py       destinations checked before the work (check_output_file, …) and input files that must be
                    files (require_file)

See docs/RELIABILITY.md.
"""
