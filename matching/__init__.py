"""Payment-to-invoice matching (cash application), risk flags and receivables KPIs.

Public entry points:

- :func:`matching.engine.apply_cash` and :func:`matching.io.apply_cash_files`: allocate bank
  credits to open items; :class:`matching.engine.Ledger` + :class:`matching.engine.Engine` for
  incremental runs;
- :class:`matching.learning.Learned`: aliases and IBANs taught by reviewers;
- :mod:`matching.risk` and :mod:`matching.kpi`: credit-risk flags and company KPIs.
"""
