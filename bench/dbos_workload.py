"""One DBOS process of bench/throughput.py: the same 4-step workload as a DBOS workflow.

    python bench/dbos_workload.py --url URL --executor-id p1 --count 500 --start-at EPOCH
    python bench/dbos_workload.py --url URL --executor-id p1 --rate 100 --seconds 10

Prints one JSON line: when its workflows started and finished, and each one's latency.
"""

from __future__ import annotations

import argparse
import json
import time

from dbos import DBOS, DBOSConfig


@DBOS.step()
def bump(n: int) -> int:
    return n + 1


@DBOS.workflow()
def trivial(n: int) -> int:
    for _ in range(4):
        n = bump(n)
    return n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--executor-id", required=True)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--start-at", type=float, default=0.0)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--seconds", type=float, default=0.0)
    args = parser.parse_args()
    config: DBOSConfig = {
        "name": "bench",
        "system_database_url": args.url,
        "log_level": "WARNING",
        "executor_id": args.executor_id,
    }
    DBOS(config=config)
    DBOS.launch()
    latencies: list[float] = []
    if args.rate:
        handles = []
        started = time.time()
        end = started + args.seconds
        i = 0
        while time.time() < end:
            due = started + i / args.rate
            if due > time.time():
                time.sleep(due - time.time())
            handles.append(DBOS.start_workflow(trivial, i))
            i += 1
        for handle in handles:
            handle.get_result()
        status = {s.workflow_id: s for s in DBOS.list_workflows()}
        for handle in handles:
            s = status[handle.workflow_id]
            latencies.append((s.updated_at - s.created_at) / 1000)
        print(json.dumps({"count": len(handles), "latencies": latencies}))
    else:
        while time.time() < args.start_at:
            time.sleep(0.001)
        started = time.time()
        handles = [DBOS.start_workflow(trivial, i) for i in range(args.count)]
        for handle in handles:
            handle.get_result()
        print(json.dumps({"count": args.count, "started": started, "finished": time.time()}))
    DBOS.destroy()


if __name__ == "__main__":
    main()
