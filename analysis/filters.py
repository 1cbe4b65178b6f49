"""The filters every page and `metrics` share: period, segment, team, CSM, playbook."""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date


@dataclass(frozen=True)
class Filters:
    """A view of the data. None means 'no restriction'.

    date_from / date_to bound the period (inclusive) an analysis looks at; segment restricts
    to accounts of that segment, team to CSMs of that team, playbook_id to one playbook.
    """
    date_from: date | None = None
    date_to: date | None = None
    segment: str | None = None
    team: str | None = None
    playbook_id: str | None = None
    csm: str | None = None

    def __post_init__(self):
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError(f"the period starts ({self.date_from}) after it ends ({self.date_to})")

    def to_query(self) -> dict[str, str]:
        """The filters as URL query parameters (only those that are set)."""
        return {f.name: (v.isoformat() if isinstance(v, date) else str(v))
                for f in fields(self) if (v := getattr(self, f.name)) is not None}

    @classmethod
    def from_query(cls, params: dict) -> "Filters":
        """Filters from URL query parameters; unknown keys are ignored, bad dates raise."""
        values = {}
        for f in fields(cls):
            raw = params.get(f.name)
            if raw in (None, ""):
                continue
            values[f.name] = date.fromisoformat(raw) if f.name.startswith("date_") else str(raw)
        return cls(**values)

    def with_(self, **changes) -> "Filters":
        return replace(self, **changes)
