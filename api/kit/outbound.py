"""Requests the server makes to other servers (webhook destinations, the map tile provider)."""

from __future__ import annotations

import urllib.request
from typing import Any


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect could lead a request to an address that was never checked or configured: never follow one."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# Opens a URL and answers what that address answered: a 3xx is an HTTPError, not a second request.
NO_REDIRECTS = urllib.request.build_opener(_NoRedirects)
