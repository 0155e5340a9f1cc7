"""Validation: the rules declared with the definitions (``dsl/checks.py``) evaluated over rows.

``rules.py``: a view's rules, the measures they need and the judgement of the measured numbers (shared);
``engine.py``: evaluated in the engine over a materialization's rows query (one aggregate query, then one
small query per broken rule for its offending keys); ``arrow.py``: evaluated over an Arrow table (push,
training sets); ``report.py``: ``Violation`` and ``ValidationReport``. May import dsl, registry, sql
and errors. To add a rule: a check in ``dsl/checks.py``, its measures and judgement in ``rules.py``, and
a measure kind counted in both ``sql/check_queries.py`` and ``arrow.py``.
"""

from featurestore.validation.report import ValidationReport, Violation

__all__ = ["ValidationReport", "Violation"]
