"""HTTP/1.x: requests and responses paired in order (``HttpParser``), bodies decoded (chunked
transfer coding; gzip, deflate and br content codings), multipart uploads split into parts, and
every body or uploaded part reported as a file with hashes and a MIME type sniffed from content."""

from sensors.protocols.http.parser import HttpParser

__all__ = ["HttpParser"]
