"""chaoslab's analysis: a run record turned into numbers and words, from the record alone.

- `record.RunData.load(path)`: a run record read back;
- `analyse.analyse(data)` / `analyse.reanalyse(path)`: observed metrics (`observed`), Prometheus'
  signals (`signals`), the verdict (`verdict`), summary.md (`summary`);
- `score.score_run(data, analysis)`: grades (`tolerances`), statistics (`stats`), alerts
  (`alert_score`), confidence and resilience; `coverage.coverage(cards)` over many runs;
- `report.report_run(path)`: results.md (`results`), report.html (`report_html`, `plots`), the
  backlog (`backlog`), the grouped timeline (`timeline`).

Modules are imported where used: matplotlib loads only with the report.
"""
