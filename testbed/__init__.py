"""The embedded testbed: a one-machine cluster where chaos experiments really happen.

Entry points (see testbed/README.md):
- `testbed.lifecycle.start(run_dir, UpOptions(...))` / `testbed.lifecycle.stop(run_dir)`: up and down;
- `testbed.client.TestbedClient(run_dir)`: addresses, pods, faults and HAProxy's view of a running
  testbed; its callers outside the testbed: runner.executors.testbed (the local
  executor's cluster and the runner's view) and cli.testbed (`chaoslab testbed up|down|status`).

Modules are imported where used (the proxy and daemon processes stay light).
"""
