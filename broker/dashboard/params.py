"""Dashboard page parameters: the one place query-string values are parsed.

A value a page cannot use (a date outside any schedule, a page number that is not one, a search term with a
NUL byte or thousands of characters) becomes the page's default and a notice shown above the page, never
an error: staff follow links and edit URLs by hand, and a typo must not look like a broken broker.
"""
from datetime import date

from django.utils import timezone

# Dates a schedule can hold; beyond them the day navigation (day ± 1) and the database's ranges overflow.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)
MAX_TEXT = 200  # longer than any accession, patient ID, AE title or name a search needs


def _shown(raw: str) -> str:
    return raw if len(raw) <= 40 else raw[:40] + "…"


class PageParams:
    """The parsed parameters of one request, with the notices its bad values gave."""

    def __init__(self, request):
        self.query = request.GET
        self.notices: list[str] = []

    @classmethod
    def of(cls, request) -> "PageParams":
        if not hasattr(request, "page_params"):
            request.page_params = cls(request)
        return request.page_params

    def _refuse(self, text: str) -> None:
        if text not in self.notices:
            self.notices.append(text)

    def notice(self, text: str) -> None:
        """A notice of the page's own (a range it corrected, a search it bounded)."""
        self._refuse(text)

    def day(self, name: str = "date") -> date:
        raw = self.query.get(name, "").strip()
        if not raw:
            return timezone.localdate()
        try:
            value = date.fromisoformat(raw)
        except ValueError:
            self._refuse(f"The date “{_shown(raw)}” cannot be shown (write it as YYYY-MM-DD); showing today.")
            return timezone.localdate()
        if not FIRST_DAY <= value <= LAST_DAY:
            self._refuse(f"The date {raw} cannot be shown (outside {FIRST_DAY.year}–{LAST_DAY.year}); showing today.")
            return timezone.localdate()
        return value

    def optional_day(self, name: str, label: str) -> date | None:
        """A date the page may go without (a range's end): None when empty or unusable (with a notice)."""
        raw = self.query.get(name, "").strip()
        if not raw:
            return None
        try:
            value = date.fromisoformat(raw)
        except ValueError:
            self._refuse(f"The {label} “{_shown(raw)}” is not a date (write it as YYYY-MM-DD); ignored.")
            return None
        if not FIRST_DAY <= value <= LAST_DAY:
            self._refuse(f"The {label} {raw} is outside {FIRST_DAY.year}–{LAST_DAY.year}; ignored.")
            return None
        return value

    def page_number(self, name: str = "page") -> int:
        raw = self.query.get(name, "").strip()
        if not raw:
            return 1
        try:
            number = int(raw)
        except ValueError:  # also a number of more than 4,300 digits
            number = 0
        if number < 1:
            self._refuse(f"The page “{_shown(raw)}” cannot be shown; showing page 1.")
            return 1
        return number

    def past_last_page(self, requested: int, last: int) -> None:
        self._refuse(f"The page {_shown(str(requested))} cannot be shown (there are {last}); showing the last page.")

    def text(self, name: str, label: str) -> str:
        raw = self.query.get(name, "").strip()
        if "\x00" in raw:
            self._refuse(f"The {label} “{_shown(raw.replace(chr(0), '␀'))}” contains a NUL character; ignored.")
            return ""
        if len(raw) > MAX_TEXT:
            self._refuse(f"The {label} “{_shown(raw)}” is longer than {MAX_TEXT} characters; ignored.")
            return ""
        return raw

    def choice(self, name: str, label: str, choices) -> str:
        raw = self.query.get(name, "").strip()
        if raw and raw not in choices:
            self._refuse(f"The {label} “{_shown(raw)}” is not one of this page's choices; showing all.")
            return ""
        return raw
