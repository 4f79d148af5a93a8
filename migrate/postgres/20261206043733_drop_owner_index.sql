-- +goose NO TRANSACTION
-- Written by hand from gen.go's output: concurrently, so that reads and
-- writes of "tasks" go on while the index goes (and, going down, while it
-- builds). idx_tasks_user_id_created_at serves every lookup by owner.

-- +goose Up
DROP INDEX CONCURRENTLY IF EXISTS "idx_tasks_user_id";

-- +goose Down
CREATE INDEX CONCURRENTLY IF NOT EXISTS "idx_tasks_user_id" ON "tasks" ("user_id");
