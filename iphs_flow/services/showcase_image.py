"""A picture for a public case page: checked, shrunk and re-encoded so nothing hidden goes along.

Photos carry metadata — EXIF with the camera's owner, GPS coordinates of where it was
taken, XMP, embedded thumbnails and ICC profiles. The picture the public sees is drawn
again from its pixels alone with Pillow, so none of it survives. Only PNG, JPEG and WebP
are taken (recognised from the bytes, never the file name), within a size cap, and very
large pictures are scaled down to a width a page needs.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from .errors import InvalidInput

MAX_BYTES = 3 * 1024 * 1024  # below the body limit of a request (max_body_bytes, 4 MB)
MAX_PIXELS = 40_000_000  # refuse decompression bombs before decoding them
MAX_SIDE = 1600
FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}


@dataclass(frozen=True)
class CleanImage:
    data: bytes
    media_type: str
    sha256: str
    width: int
    height: int


def _refuse(message: str) -> InvalidInput:
    return InvalidInput(message, {"image": [message]})


def clean_image(raw: bytes) -> CleanImage:
    """The picture re-encoded from its pixels in its own format; InvalidInput for anything else."""
    if not raw:
        raise _refuse("the file is empty")
    if len(raw) > MAX_BYTES:
        raise _refuse(f"the picture is larger than {MAX_BYTES // (1024 * 1024)} MB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as probe:
                kind = probe.format
                if kind not in FORMATS:
                    raise _refuse("only PNG, JPEG and WebP pictures are accepted")
                if probe.width * probe.height > MAX_PIXELS:
                    raise _refuse("the picture has too many pixels")
                probe.load()
                picture = probe.copy()
    except InvalidInput:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning, SyntaxError):
        raise _refuse("the file is not a picture that can be read (PNG, JPEG or WebP)") from None
    if getattr(picture, "n_frames", 1) > 1:
        picture.seek(0)
    picture.thumbnail((MAX_SIDE, MAX_SIDE))
    # Pixels only: a new image with the same mode, so no info dictionary, EXIF, XMP or ICC follows.
    mode = picture.mode
    if kind == "JPEG" and mode not in ("RGB", "L"):
        mode = "RGB"
    elif mode not in ("RGB", "RGBA", "L", "LA"):
        mode = "RGBA" if "A" in picture.getbands() or "transparency" in picture.info else "RGB"
    pixels = picture.convert(mode)
    bare = Image.new(mode, pixels.size)
    bare.paste(pixels)
    out = io.BytesIO()
    if kind == "JPEG":
        bare.save(out, "JPEG", quality=85, optimize=True)
    elif kind == "PNG":
        bare.save(out, "PNG", optimize=True)
    else:
        bare.save(out, "WEBP", quality=85)
    data = out.getvalue()
    return CleanImage(data, FORMATS[kind], hashlib.sha256(data).hexdigest(), bare.width, bare.height)
