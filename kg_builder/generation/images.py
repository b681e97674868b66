"""Images for the multimodal stage: opened safely, normalised, downscaled, metadata stripped."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from kg_builder.core.errors import ImageError

ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF"})


@dataclass(frozen=True)
class PreparedImage:
    sha256: str  # of the original file's bytes
    data_url: str  # JPEG, downscaled, EXIF orientation applied, no metadata
    width: int
    height: int


def prepare_image(path: Path, max_side: int = 1024, max_pixels: int = 40_000_000,
                  quality: int = 85) -> PreparedImage:
    """Open ``path`` with pillow and return a small JPEG data URL of it, or raise ImageError."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"{path}: cannot be read ({exc.strerror})") from exc
    digest = hashlib.sha256(raw).hexdigest()
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as img:
                if img.format not in ALLOWED_FORMATS:
                    raise ImageError(f"{path}: format {img.format} is not one of "
                                     f"{', '.join(sorted(ALLOWED_FORMATS))}")
                if img.width * img.height > max_pixels:
                    raise ImageError(f"{path}: {img.width}x{img.height} pixels is over the limit "
                                     f"of {max_pixels:,} (a decompression bomb?)")
                img.seek(0)  # GIF: first frame
                frame = ImageOps.exif_transpose(img) or img
                frame = frame.convert("RGB")
                frame.thumbnail((max_side, max_side))
                out = io.BytesIO()
                frame.save(out, format="JPEG", quality=quality)  # no EXIF or other metadata
                width, height = frame.size
    except ImageError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ImageError(f"{path}: decompression bomb refused ({exc})") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        reason = re.sub(r" <[\w.]+ object at 0x[0-9a-f]+>", "", str(exc))  # PIL names its buffer
        raise ImageError(f"{path}: not a readable image ({reason})") from exc
    finally:
        Image.MAX_IMAGE_PIXELS = previous
    data_url = "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()
    return PreparedImage(sha256=digest, data_url=data_url, width=width, height=height)
