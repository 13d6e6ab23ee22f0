"""A staff member's browser for tests: the staff pages over real HTTP
(urllib with a cookie jar), signing in with the form's CSRF token and
posting the deny-list page's block form."""

from __future__ import annotations

import re
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class StaffBrowser:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def get(self, path: str) -> str:
        with self.opener.open(self.base_url + path, timeout=30) as response:
            return response.read().decode()

    def post(self, path: str, fields: dict[str, str]) -> tuple[str, str]:
        """The page the form's answer leads to (redirects followed) and its URL."""
        data = urllib.parse.urlencode(fields).encode()
        with self.opener.open(self.base_url + path, data=data, timeout=30) as response:
            return response.read().decode(), response.geturl()

    def csrf(self, path: str) -> str:
        match = CSRF.search(self.get(path))
        assert match is not None, f"no CSRF token in {path}"
        return match.group(1)

    def sign_in(self, username: str, password: str) -> str:
        token = self.csrf("/staff/sign-in")
        page, _ = self.post("/staff/sign-in", {"csrf_token": token, "username": username, "password": password})
        return page

    def block(self, card_number: int, reason: str) -> tuple[str, str]:
        token = self.csrf("/staff/denylist")
        return self.post("/staff/denylist", {"csrf_token": token, "card_number": str(card_number), "uid": "",
                                             "reason": reason})
