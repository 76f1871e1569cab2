-- Baseline of the task queue's drain rate: one-row INSERTs, each its own transaction, from a
-- single client (pgbench -c 1), into a scratch table benchmarks/run.py creates as
--   CREATE TABLE bench_task_scratch (id bigserial PRIMARY KEY, payload jsonb NOT NULL,
--                                    created_at timestamptz NOT NULL DEFAULT now())
-- One committed write is the least a worker must do per task (it does several: claim the
-- row under a lock, run the task, record the result).
INSERT INTO bench_task_scratch (payload) VALUES ('{"task_path": "sarafan.rewards.tasks.release_due_rewards", "args": [], "kwargs": {}}');
