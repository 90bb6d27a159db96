"""chaoslab's runner: one experiment on a live system, from its validated spec to its run record.

- `runner.Runner(experiment, seams, options).run()` / `.dry_run()` (`results` has what it returns);
- the seams (`seams`): the executor, clock and system view (`executors.base`), the load
  (`load_driver`), Prometheus (`prometheus`), the predictor (`prediction`); `backend` wires them
  to the embedded testbed;
- the phases' helpers: `steady_state`, `abort`, `prerequisites`, `interrupts`; safety: `marker`,
  `cleanup`; the record: `record` (writing), `finish` (Prometheus' signals, the analysis, the report).
"""
