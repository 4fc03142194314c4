"""Payment-to-invoice matching (cash application), risk flags and receivables KPIs.

Public entry points:

- :func:`matching.engine.apply_cash` and :func:`matching.io.apply_cash_files`: allocate bank
  credits to open items; :class:`matching.ledger.Ledger` + :class:`matching.engine.Engine` for
  incremental runs (with :class:`matching.parallel.ParallelPass` to decide lines on several cores);
- :mod:`matching.lines` (bank lines), :mod:`matching.decisions` (the rules that decide a line,
  :class:`~matching.decisions.LineDecider`) and :mod:`matching.subsets` (subset sums): the parts
  of the engine;
- :class:`matching.learning.Learned`: aliases and IBANs taught by reviewers;
- :mod:`matching.risk` and :mod:`matching.kpi`: credit-risk flags and company KPIs.
"""
