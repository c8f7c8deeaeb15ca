"""The crowd: volunteers, who sees which building, and the answers they give."""

from stracker.crowd.answers import compare_answers, timeline_answers
from stracker.crowd.volunteers import VOLUNTEER_KINDS, assign_volunteers, make_volunteers

__all__ = ["VOLUNTEER_KINDS", "assign_volunteers", "compare_answers", "make_volunteers", "timeline_answers"]
