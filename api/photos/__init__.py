"""Photos: resumable upload (tus), checksum, validation, EXIF, derivatives, perceptual hash, serving."""
